/**
 * @internal The library's internals, for its own tests: one entry instead of deep imports, so that moving a file
 * changes this list and not every test. Not part of the package (the build leaves this file out, and the package's
 * `exports` map publishes `index.ts` alone); nothing here is an API.
 */
export * from './index';
export { JOB_QUEUE_MODULE_OPTIONS } from './job-queue.module-definition';
export { JOB_QUEUE_DEFAULTS } from './job-queue.defaults';
export { resolveJobQueueOptions } from './job-queue-options.resolver';
export { JOB_QUEUE_OPTIONS } from './job-queue.constants';
export type { ResolvedJobQueueOptions } from './interfaces/job-queue-options.interface';
export { JobRepository, type ClaimedJob, type ClaimCursor, type Lease } from './job.repository';
export { JobExecutor } from './worker/job.executor';
export { JobPoller } from './worker/job.poller';
export { JobNotifyListener } from './worker/job-notify.listener';
export { JobHeartbeat } from './maintenance/job.heartbeat';
export { JobRescuer } from './maintenance/job.rescuer';
export { METRIC } from './observability/metric-names';
export { jobQueueMetricProviders } from './observability/job-queue-metric.providers';
export { JOB_QUEUE_MIGRATION_CHAIN, JOB_QUEUE_SCHEMA_VERSION } from './migrations';
export { migrationName } from './migrations/job-queue-migration';
export { WorkerRegistry, UNSERVED_LIMITS } from './maintenance/worker.registry';
export { findUnserved } from './sql/find-unserved.sql';
export { queueTables } from './sql/identifier';
export { TableVacuumer } from './maintenance/table.vacuumer';
export { BLOAT_EVENT_FACTOR, IndexRebuilder, REBUILD_MAX_HORIZON_AGE_MS } from './maintenance/index.rebuilder';
export { QueueDepthSampler } from './maintenance/queue-depth.sampler';
export { CLAIM_CHUNK, claimAvailable, claimPairs } from './sql/claim-available.sql';
export { claimOneLevel, ONE_LEVEL_MAX_CLAIM } from './sql/claim-one-level.sql';
export { completeAndClaimOneLevel } from './sql/complete-and-claim.sql';
export { cursorAfter } from './worker/claim-cursor';
export { ScheduleTicker } from './schedules/schedule.ticker';
export { ScheduleRepository } from './schedules/schedule.repository';
export { CronSlots, planSlots } from './schedules/cron-slots';
export { JobEventDispatcher, jobEventJobOf, type JobEventRow } from './events/job-event.dispatcher';
export { limitsOf, limitLockKey, MAX_KEYS_PER_CLAIM, type JobLimits } from './limits/job-limits';
export { KEYLESS_HEAD } from './migrations/claim-limited.function';
export { claimLimited } from './sql/claim-limited.sql';
export { listDeadJobs, listFinishedJobs, listLiveJobs } from './sql/list-jobs.sql';
export { pruneDead, pruneFinished } from './sql/prune-finished.sql';
export { findCancelBatch } from './sql/find-cancel-batch.sql';
export { FinishedJobsPruner } from './control/finished-jobs.pruner';
export {
  listDeadWindow,
  listFinishedWindow,
  listLiveWindow,
  listProcessingPage,
} from './sql/dashboard-list-window.sql';
// The statements of the dashboard's pages, for the test that measures them with a million jobs.
export { countByStatusSampled } from './sql/count-by-status-sampled.sql';
export { countProcessingByQueue } from './sql/count-processing-by-queue.sql';
export { findJobAny } from './sql/find-job-any.sql';
export { tableHealth } from './sql/table-health.sql';
