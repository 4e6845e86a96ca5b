/**
 * The package's whole public API: what an app needs to configure the queue, declare handlers, enqueue, operate,
 * observe and migrate. Everything else is internal (the tests reach it through `internal.ts`, which is not published).
 * @packageDocumentation
 */
export { JobQueueModule } from './job-queue.module';
export { JobHandler } from './discovery/job-handler.decorator';
export { JobProducer } from './producer/job.producer';
export { JobQueueAdmin, type QueueStats } from './job-queue.admin';
export { JobScheduler } from './schedules/job.scheduler';
export type {
  ScheduleCatchUp,
  ScheduleInfo,
  ScheduleInput,
  ScheduleOptions,
} from './schedules/schedule-options.interface';
export { JobQueueHealthIndicator, type JobQueueHealthOptions } from './observability/job-queue.health';
export type { JobQueueHealthResult } from './observability/health-result';
export { METRIC as JOB_QUEUE_METRICS } from './observability/metric-names';
export { JobQueueMigrations, createJobQueueMigrations } from './migrations';
// For a migration script of the app's own, and for the app's own migrations under the same lock.
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
  JobCancelledError,
  JobCancelTimeoutError,
} from './errors/job-queue.errors';
export { JobValidationFilter, type JobValidationErrorBody } from './http/job-validation.filter';
export type { JobContext } from './interfaces/job-context.interface';
export { SnoozeJob } from './errors/job-queue.errors';
export { OnJobEvent } from './events/job-event.decorator';
export type { JobEvent, JobEventJob, JobEventName } from './interfaces/job-event.interface';
export type { JobHandlerOptions } from './interfaces/job-handler-options.interface';
export type { JobQueueModuleOptions, JobRetentionOptions } from './interfaces/job-queue-options.interface';
export type { JobQueueModuleExtras } from './job-queue.module-definition';
export type { EnqueueOptions, EnqueueResult, JobToEnqueue } from './interfaces/enqueue-options.interface';
export type { BackoffOption, BackoffFunction } from './interfaces/backoff.interface';
export type { DeadJobRow, DeadJobSummary } from './interfaces/job-row.interface';
export type { RateLimitOption, JobLimits } from './limits/job-limits';
export type { JobTypeLimits } from './limits/limits-view';
export type {
  CancelResult,
  JobPage,
  JobState,
  ListJobsQuery,
  PruneResult,
  QueueSummary,
} from './control/job-control.interface';
// The dashboard: a controller base class the app mounts behind its own guard (see docs/dashboard.md).
export { JobQueueDashboardController } from './dashboard/job-queue-dashboard.controller';
export { DashboardReader, type DashboardOverview, type DashboardQueue } from './dashboard/dashboard.reader';
export {
  DASHBOARD_SCHEDULES,
  type DashboardSchedule,
  type DashboardSchedules,
} from './dashboard/dashboard-schedules.interface';
