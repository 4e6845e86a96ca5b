/**
 * What happened to a job, as hooks see it, once it is committed:
 * - `completed`: its handler succeeded and the job is done;
 * - `failed`: an attempt failed and the job will be retried;
 * - `dead`: the job was dead-lettered (attempts spent, an `UnrecoverableJobError`, the snooze cap, or its lease
 *   expired on its last attempt);
 * - `cancelled`: the job was cancelled.
 */
export type JobEventName = 'completed' | 'failed' | 'dead' | 'cancelled';

/** The events a hook may listen to, for validation and docs. */
export const JOB_EVENT_NAMES: readonly JobEventName[] = ['completed', 'failed', 'dead', 'cancelled'];

/** The job an event is about. */
export interface JobEventJob {
  id: string;
  type: string;
  queue: string;
  payload: unknown;
  /** The attempt the event is about (1 on the first); for `cancelled`, the attempts made so far. */
  attempt: number;
  maxAttempts: number;
  /** `failed` and `dead`: the error of the attempt (or the dead-letter reason). */
  error?: string;
  /** `completed`: what the handler returned, when it returned something. */
  result?: unknown;
}

/** What a `@OnJobEvent` method receives. */
export interface JobEvent extends JobEventJob {
  event: JobEventName;
}
