import { Module, type DynamicModule } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { TerminusModule } from '@nestjs/terminus';
import { PrometheusModule } from '@willsoto/nestjs-prometheus';
import { DataSource } from 'typeorm';
import { JobQueueModule } from '@app/job-queue';
import { SAMPLE_CONFIG, type SampleConfig } from './config/sample.config';
import { sampleDataSourceOptions } from './database/sample-data-source.options';
import { SampleSchemaMigrator } from './database/sample-schema.migrator';
import { DeadJobsController } from './http/dead-jobs.controller';
import { HealthController } from './http/health.controller';
import { JobsController } from './http/jobs.controller';
import { QueueController } from './http/queue.controller';
import { SchedulesController } from './http/schedules.controller';
import { QueuesController } from './http/queues.controller';
import { DemoHandlers } from './jobs/demo.handlers';
import { DeadJobHooks } from './jobs/dead-job.hooks';
import { SampleDashboardModule } from './dashboard/sample-dashboard.module';

/** The sample app, wired as a user would: the app owns the DataSource and the metrics endpoint; the queue joins. */
@Module({})
export class SampleAppModule {
  static forRoot(config: SampleConfig): DynamicModule {
    return {
      module: SampleAppModule,
      imports: [
        TypeOrmModule.forRoot({ ...sampleDataSourceOptions(config.databaseUrl), retryAttempts: 2, retryDelay: 1000 }),
        JobQueueModule.forRootAsync({
          inject: [DataSource],
          useFactory: (dataSource: DataSource) => ({
            dataSource,
            runMigrations: true,
            // Gives back the index space a long transaction bloated (off by default: see docs/operations.md).
            rebuildBloatedIndexes: true,
            instanceId: config.instanceId,
            ...config.queue,
          }),
        }),
        PrometheusModule.register(),
        TerminusModule,
        SampleDashboardModule.fromEnv(process.env),
      ],
      controllers: [
        JobsController,
        DeadJobsController,
        QueueController,
        HealthController,
        SchedulesController,
        QueuesController,
      ],
      providers: [{ provide: SAMPLE_CONFIG, useValue: config }, SampleSchemaMigrator, DemoHandlers, DeadJobHooks],
    };
  }
}
