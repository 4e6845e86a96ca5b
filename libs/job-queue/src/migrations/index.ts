import type { MigrationInterface } from 'typeorm';
import { createTables } from './0001-create-tables.migration';
import { claimIndex } from './0002-claim-index.migration';
import { workerRegistry } from './0003-worker-registry.migration';
import { schedules } from './0004-schedules.migration';
import { queueControl } from './0005-queue-control.migration';
import { snoozeProgress } from './0006-snooze-progress.migration';
import { concurrencyLimits } from './0007-concurrency-limits.migration';
import { traceContext } from './0008-trace-context.migration';
import { claimLimitedNothingDue } from './0009-claim-limited-nothing-due.migration';
import { claimLimitedToken } from './0010-claim-limited-token.migration';
import { claimLimitedFreshRows } from './0011-claim-limited-fresh-rows.migration';
import { finishedJobKeys } from './0012-finished-job-keys.migration';
import { bindMigrationStep, type JobQueueMigrationStep } from './job-queue-migration';

/**
 * The schema's chain, oldest first. A step, once released, never changes: a change to the tables is a new step at
 * the end, with its own `down`. docs/operations.md says which library versions may run side by side.
 */
export const JOB_QUEUE_MIGRATION_CHAIN: readonly JobQueueMigrationStep[] = [
  createTables,
  claimIndex,
  workerRegistry,
  schedules,
  queueControl,
  snoozeProgress,
  concurrencyLimits,
  traceContext,
  claimLimitedNothingDue,
  claimLimitedToken,
  claimLimitedFreshRows,
  finishedJobKeys,
];

/** The schema version this code needs: the last step of its chain. Start-up refuses a database below it. */
export const JOB_QUEUE_SCHEMA_VERSION = JOB_QUEUE_MIGRATION_CHAIN[JOB_QUEUE_MIGRATION_CHAIN.length - 1].version;

/** The library's migrations for a schema, in order; add them to your DataSource's `migrations`. */
export function createJobQueueMigrations(schema = 'job_queue'): Array<new () => MigrationInterface> {
  return JOB_QUEUE_MIGRATION_CHAIN.map((step) => bindMigrationStep(step, schema));
}

/** The library's migrations for the default schema, `job_queue`. */
export const JobQueueMigrations = createJobQueueMigrations();
