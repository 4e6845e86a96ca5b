import { Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { JobHandlerMetadataAccessor } from './discovery/job-handler.accessor';
import { JobHandlerExplorer } from './discovery/job-handler.explorer';
import { JobHandlerRegistry } from './discovery/job-handler.registry';
import { JobEventDispatcher } from './events/job-event.dispatcher';
import { JobEventExplorer } from './events/job-event.explorer';
import { JobQueueAdmin } from './job-queue.admin';
import { DASHBOARD_SCHEDULES } from './dashboard/dashboard-schedules.interface';
import { DashboardReader } from './dashboard/dashboard.reader';
import { JOB_QUEUE_OPTIONS } from './job-queue.constants';
import { JobQueueDatabase } from './job-queue.database';
import { ConfigurableJobQueueModule, JOB_QUEUE_MODULE_OPTIONS } from './job-queue.module-definition';
import { jobRepositoryProvider } from './job-queue.repository.provider';
import { resolveJobQueueOptions } from './job-queue-options.resolver';
import { JobQueueWorker } from './job-queue.worker';
import { JobQueueShutdownHooksCheck } from './job-queue.shutdown-hooks';
import type { JobQueueModuleOptions } from './interfaces/job-queue-options.interface';
import { JobHeartbeat } from './maintenance/job.heartbeat';
import { JobRescuer } from './maintenance/job.rescuer';
import { QueueDepthSampler } from './maintenance/queue-depth.sampler';
import { WorkerRegistry } from './maintenance/worker.registry';
import { IndexRebuilder } from './maintenance/index.rebuilder';
import { TableVacuumer } from './maintenance/table.vacuumer';
import { jobQueueMetricProviders } from './observability/job-queue-metric.providers';
import { JobQueueHealthIndicator } from './observability/job-queue.health';
import { JobQueueMetrics } from './observability/job-queue.metrics';
import { JobProducer } from './producer/job.producer';
import { JobExecutor } from './worker/job.executor';
import { JobNotifyListener } from './worker/job-notify.listener';
import { JobPoller } from './worker/job.poller';
import { scheduleProviders } from './schedules/schedule.providers';
import { JobScheduler } from './schedules/job.scheduler';
import { JobQueueTracing } from './tracing/job-queue.tracing';
import { FinishedJobsPruner } from './control/finished-jobs.pruner';

/**
 * `JobQueueModule.forRoot({ connectionUrl | dataSource, ... })` or `forRootAsync({ useFactory, inject })`, once,
 * at the app's root. Exports `JobProducer`, `JobQueueAdmin` and `JobQueueHealthIndicator`.
 */
@Module({
  imports: [DiscoveryModule],
  providers: [
    {
      provide: JOB_QUEUE_OPTIONS,
      inject: [JOB_QUEUE_MODULE_OPTIONS],
      useFactory: (options: JobQueueModuleOptions) => resolveJobQueueOptions(options),
    },
    JobQueueDatabase,
    jobRepositoryProvider,
    ...jobQueueMetricProviders,
    JobQueueMetrics,
    JobQueueTracing,
    JobHandlerMetadataAccessor,
    JobHandlerRegistry,
    JobHandlerExplorer,
    JobExecutor,
    JobPoller,
    JobNotifyListener,
    JobHeartbeat,
    JobRescuer,
    QueueDepthSampler,
    WorkerRegistry,
    TableVacuumer,
    IndexRebuilder,
    FinishedJobsPruner,
    JobQueueWorker,
    JobQueueShutdownHooksCheck,
    JobProducer,
    JobQueueAdmin,
    JobQueueHealthIndicator,
    ...scheduleProviders,
    JobEventDispatcher,
    JobEventExplorer,
    DashboardReader,
  ],
  exports: [
    JobProducer,
    JobQueueAdmin,
    JobQueueHealthIndicator,
    JOB_QUEUE_OPTIONS,
    JobScheduler,
    DashboardReader,
    DASHBOARD_SCHEDULES,
  ],
})
export class JobQueueModule extends ConfigurableJobQueueModule {}
