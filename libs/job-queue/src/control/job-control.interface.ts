/** Every state a job can be found in; `completed` and `cancelled` only while retention keeps it. */
export type JobState = 'pending' | 'processing' | 'dead' | 'completed' | 'cancelled';

export const JOB_STATES: readonly JobState[] = ['pending', 'processing', 'dead', 'completed', 'cancelled'];

/** A queue's paused flag, as `queues` holds it. */
export interface QueueFlag {
  queue: string;
  paused: boolean;
  /** When the pause began (database clock); null while running. */
  paused_at: Date | null;
}

/** A job a cancel statement removed from `jobs`, with the status it had. */
export interface CancelledRow {
  id: string;
  queue: string;
  type: string;
  status: 'pending' | 'processing';
}

/**
 * What cancelling a job did: `cancelled` now; `already-finished` when it had ended before (`state` says how:
 * `completed` or `cancelled` while retention keeps it, or `dead`); `not-found` when no job has that id (with
 * retention off, a job that completed or was cancelled is gone, so it reads as not found).
 */
export type CancelResult =
  | { id: string; status: 'cancelled' }
  | { id: string; status: 'already-finished'; state: 'completed' | 'cancelled' | 'dead' }
  | { id: string; status: 'not-found' };

/** A queue with its counts of jobs per state, and whether it is paused. */
export interface QueueSummary {
  queue: string;
  paused: boolean;
  pausedAt: Date | null;
  pending: number;
  processing: number;
  dead: number;
}

/** Rows a prune deleted: completed and cancelled jobs, and dead jobs. */
export interface PruneResult {
  finished: number;
  dead: number;
}

/** One page of a listing; `next` is the `after` of the next page, null after the last. */
export interface JobPage {
  jobs: Array<Record<string, unknown>>;
  next: string | null;
}

/** What to list: jobs in one state, optionally of one queue and type, after a key, `limit` per page. */
export interface ListJobsQuery {
  state: JobState;
  queue?: string;
  type?: string;
  after?: string;
  limit?: number;
}
