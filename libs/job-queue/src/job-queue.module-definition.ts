import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { JobQueueModuleOptions } from './interfaces/job-queue-options.interface';

export interface JobQueueModuleExtras {
  /** Register the module globally, so `JobProducer` is injectable everywhere. Default true. */
  isGlobal?: boolean;
}

export const { ConfigurableModuleClass: ConfigurableJobQueueModule, MODULE_OPTIONS_TOKEN: JOB_QUEUE_MODULE_OPTIONS } =
  new ConfigurableModuleBuilder<JobQueueModuleOptions>({ moduleName: 'JobQueue' })
    .setClassMethodName('forRoot')
    .setExtras<JobQueueModuleExtras>({ isGlobal: true }, (definition, extras) => ({
      ...definition,
      global: extras.isGlobal,
    }))
    .build();
