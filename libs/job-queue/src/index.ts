export { JobQueueModule } from './job-queue.module';
export { JOB_QUEUE_MODULE_OPTIONS } from './job-queue.module-definition';
export { JOB_QUEUE_DEFAULTS } from './job-queue.defaults';
export { resolveJobQueueOptions } from './job-queue-options.resolver';
export { JobHandler } from './discovery/job-handler.decorator';
export { JobProducer } from './producer/job.producer';
export { JobQueueAdmin, type QueueStats } from './job-queue.admin';
export { JobQueueHealthIndicator, type JobQueueHealthOptions } from './observability/job-queue.health';
export { METRIC as JOB_QUEUE_METRICS } from './observability/metric-names';
export { JobQueueMigrations, createJobQueueMigrations } from './migrations';
export { runJobQueueMigrations, runMigrationsExclusively } from './migrations/job-queue.migrator';
export {
  JobQueueError,
  JobValidationError,
  JobQueueConfigError,
  DuplicateJobHandlerError,
  UnrecoverableJobError,
  JobTimeoutError,
  JobLeaseExpiredError,
  JobQueueSchemaMissingError,
  JobQueueSchemaTooNewError,
} from './errors/job-queue.errors';
export { JobValidationFilter, type JobValidationErrorBody } from './http/job-validation.filter';
export type { JobContext } from './interfaces/job-context.interface';
export type { JobHandlerOptions } from './interfaces/job-handler-options.interface';
export type { JobQueueModuleOptions } from './interfaces/job-queue-options.interface';
export type { EnqueueOptions, EnqueueResult, JobToEnqueue } from './interfaces/enqueue-options.interface';
export type { BackoffOption, BackoffFunction } from './interfaces/backoff.interface';
export type { DeadJobRow, DeadJobSummary } from './interfaces/job-row.interface';
