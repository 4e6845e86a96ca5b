import type { BackoffOption } from './backoff.interface';
import type { ScheduleOptions } from '../schedules/schedule-options.interface';
import type { RateLimitOption } from '../limits/job-limits';

export interface JobHandlerOptions {
  /** Most jobs of this type run at once on one instance (within the module's `concurrency`). */
  concurrency?: number;
  /** Attempts for jobs of this type, unless the job itself says otherwise. */
  maxAttempts?: number;
  /** Backoff for this type, overriding the module's. */
  backoff?: BackoffOption;
  /** Abort the attempt (`ctx.signal`) and count it as failed after this long. */
  timeoutMs?: number;
  /**
   * Run the handler in a transaction that first re-checks the job's lock and ends by deleting the job, so its
   * database effects through `ctx.manager` happen exactly once. Holds a pooled connection while it runs.
   */
  transactional?: boolean;
  /**
   * Run this type on a schedule: a schedule named after the type, written to the database at start (see
   * `JobScheduler` and docs/schedules.md for how deploys that change it behave).
   */
  schedule?: ScheduleOptions;
  /** Times a job of this type may be snoozed before the next snooze dead-letters it (module default: 100). */
  maxSnoozes?: number;
  /** Most jobs of this type running at once across all instances (`processing` rows, until recovery frees them). */
  globalConcurrency?: number;
  /** Most jobs of one `concurrencyKey` of this type running at once across all instances; keys are served in turn. */
  concurrencyPerKey?: number;
  /** Most starts of this type (or, with `perKey`, of one key of it) in any window of `periodMs`, across instances. */
  rateLimit?: RateLimitOption;
}
