/**
 * What to do with slots that passed while no instance could fire them (all instances down, the database away):
 * `'skip'` fires none of them, `'latest'` (the default) fires the latest one once, a number N fires up to the N
 * latest ones (backfill), oldest first. A slot is missed when it is more than `scheduleMisfireGraceMs` late.
 */
export type ScheduleCatchUp = 'skip' | 'latest' | number;

/**
 * A recurring job: every slot of `cron` (5 fields, or 6 with seconds first) in `timezone` creates one job of `type`.
 */
export interface ScheduleOptions {
  cron: string;
  /** IANA time zone the cron's wall-clock times are read in. Default `UTC`. */
  timezone?: string;
  payload?: unknown;
  queue?: string;
  priority?: number;
  maxAttempts?: number;
  /**
   * `'allow'` (default): a slot's job is created whatever the previous one is doing. `'skip'`: a slot is passed
   * while a job of the schedule is still pending or processing (counted in `schedule_slots_skipped_total`).
   */
  overlap?: 'allow' | 'skip';
  catchUp?: ScheduleCatchUp;
}

/** A schedule created at run time: a name of its own and the job type it makes. */
export interface ScheduleInput extends ScheduleOptions {
  name: string;
  type: string;
}

/** A schedule as `JobScheduler.list()` shows it. */
export interface ScheduleInfo {
  name: string;
  cron: string;
  timezone: string;
  type: string;
  queue: string;
  payload: unknown;
  priority: number;
  maxAttempts: number | null;
  overlap: 'allow' | 'skip';
  catchUp: ScheduleCatchUp;
  paused: boolean;
  /** `code`: declared on a handler and written at start; `runtime`: created through `JobScheduler`. */
  source: 'code' | 'runtime';
  /** The next slot to be fired (null when paused or when the expression has no future slot). */
  nextRunAt: Date | null;
  /** The slot of the last job the schedule created; null before the first. */
  lastRunAt: Date | null;
}
