import { JobNotStartedError, SnoozeJob, UnrecoverableJobError } from '../errors/job-queue.errors';
import { messages } from '../job-queue.messages';
import type { ClaimedJob, Kill, Lease, Retry, Snooze } from '../job.repository';
import { isTransient } from './batched-writer';
import type { AbortCause } from './job-execution';

/** How a failed attempt ends: what to write, and what to count and say once it is written. */
export type FailureDecision =
  | { outcome: 'lease_lost' }
  | { outcome: 'released'; end: { release: Lease } }
  | { outcome: 'postponed'; end: { retry: Retry }; delayMs: number; message: string }
  | { outcome: 'dead'; end: { kill: Kill }; message: string }
  | { outcome: 'snoozed'; end: { snooze: Snooze }; delayMs: number }
  | { outcome: 'retried'; end: { retry: Retry }; delayMs: number; message: string };

/** A decision that writes something. */
export type WrittenDecision = Exclude<FailureDecision, { outcome: 'lease_lost' }>;

/** What the decision reads of an attempt. */
export interface FailedAttempt {
  readonly job: Pick<ClaimedJob, 'attempt_count' | 'max_attempts'> & Partial<Pick<ClaimedJob, 'snooze_count'>>;
  /** Snoozes allowed before the next one dead-letters the job (none given: no cap). */
  readonly maxSnoozes?: number;
  readonly lease: Lease;
  readonly abortCause: AbortCause | null;
  /** Shutdown ended its transaction's backend. */
  readonly terminated: boolean;
}

/**
 * How a failed attempt ends, as a value: the one rule, whether its end is then written by the batched writers or
 * inside the attempt's own transaction. `delayMs` is asked only for a retry (a custom backoff is not called for a
 * job that dies).
 */
export function decideFailure(attempt: FailedAttempt, error: unknown, delayMs: () => number): FailureDecision {
  const { job, lease } = attempt;
  // A cancelled job's row is gone (or goes once its transaction ends): nothing is left to write, as for a lost lease.
  if (attempt.abortCause === 'lease_lost' || attempt.abortCause === 'cancelled') return { outcome: 'lease_lost' };
  // Stopped by shutdown (or its transaction ended by it): handed back, runnable now, the attempt refunded.
  if (attempt.abortCause === 'shutdown' || attempt.terminated) return { outcome: 'released', end: { release: lease } };
  if (error instanceof SnoozeJob) {
    // Not a failure: the attempt is given back in the same fenced statement. Past the cap a handler that snoozes
    // forever (a bug) would never end, so the job is dead-lettered with a reason that says so.
    const max = attempt.maxSnoozes ?? Infinity;
    if ((job.snooze_count ?? 0) >= max) {
      const reason = messages.snoozeLimit(max);
      return { outcome: 'dead', end: { kill: { ...lease, reason, stack: null } }, message: reason };
    }
    return { outcome: 'snoozed', end: { snooze: { ...lease, delayMs: error.delayMs } }, delayMs: error.delayMs };
  }
  const message = errorMessage(error);
  if (error instanceof JobNotStartedError && isTransient(error.cause)) {
    // The database could not give the job its transaction (no free connection, a dropped one): the handler never
    // ran, so the attempt is given back. Under connection pressure this waits; it does not dead-letter.
    const delay = delayMs();
    return {
      outcome: 'postponed',
      end: { retry: { ...lease, delayMs: delay, error: message, refund: 1 } },
      delayMs: delay,
      message,
    };
  }
  if (error instanceof UnrecoverableJobError || job.attempt_count >= job.max_attempts) {
    const stack = error instanceof Error && error.stack ? storable(error.stack) : null;
    return { outcome: 'dead', end: { kill: { ...lease, reason: message, stack } }, message };
  }
  const delay = delayMs();
  return { outcome: 'retried', end: { retry: { ...lease, delayMs: delay, error: message } }, delayMs: delay, message };
}

/** Longest error text kept per attempt: enough for any message, bounded for a row that is rewritten per retry. */
const MAX_ERROR_TEXT = 8_192;

export function errorMessage(error: unknown): string {
  let text: string;
  if (error instanceof Error) text = error.message || error.name;
  else {
    try {
      text = typeof error === 'string' ? error : (JSON.stringify(error) ?? String(error));
    } catch {
      text = String(error);
    }
  }
  return storable(text);
}

/**
 * Text PostgreSQL will store: no NUL characters (text columns refuse them, and a refused write would keep the
 * attempt from being recorded), and bounded in length.
 */
export function storable(text: string): string {
  const clean = text.replaceAll('\u0000', '');
  return clean.length > MAX_ERROR_TEXT ? `${clean.slice(0, MAX_ERROR_TEXT)}…` : clean;
}
