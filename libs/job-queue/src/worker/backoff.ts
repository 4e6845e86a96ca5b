import type { BackoffOption } from '../interfaces/backoff.interface';

/** Default cap of exponential backoff: one hour. */
export const DEFAULT_MAX_BACKOFF_MS = 3_600_000;
/** No retry is scheduled further out than a year: a larger number is a bug (or an overflow) in a custom function. */
export const MAX_BACKOFF_MS = 365 * 24 * 3_600_000;

/**
 * Delay before the next attempt after attempt number `attempt` (1-based) failed.
 * Linear is the seed's `attempt × delay`; exponential doubles from `delay` up to a cap, with full jitter by default.
 */
export function backoffDelayMs(
  backoff: BackoffOption,
  attempt: number,
  baseDelayMs: number,
  error?: unknown,
  random: () => number = Math.random,
): number {
  let delay: number;
  if (typeof backoff === 'function') {
    const answer: unknown = backoff(attempt, error);
    // Only a number is a delay: `undefined`, '5s', {} or NaN would reach the database as NaN and fail the write.
    if (typeof answer !== 'number' || Number.isNaN(answer)) throw new InvalidBackoffError(describeAnswer(answer));
    delay = answer;
  } else if (backoff.type === 'linear') {
    delay = attempt * (backoff.delayMs ?? baseDelayMs);
  } else {
    const cap = backoff.maxDelayMs ?? DEFAULT_MAX_BACKOFF_MS;
    const ceiling = Math.min(cap, (backoff.delayMs ?? baseDelayMs) * 2 ** Math.min(attempt - 1, 52));
    delay = backoff.jitter === false ? ceiling : random() * ceiling;
  }
  // The database gets a whole number of ms from 0 to a year.
  if (delay <= 0) return 0;
  return Math.min(MAX_BACKOFF_MS, Math.round(delay));
}

/** A custom backoff function threw, or answered something that is not a number of milliseconds. */
export class InvalidBackoffError extends Error {}

function describeAnswer(answer: unknown): string {
  try {
    return `returned ${JSON.stringify(answer) ?? String(answer)}`;
  } catch {
    return `returned ${String(answer)}`;
  }
}

/** Told when a backoff could not be used, with the fallback that was: the caller logs it (once per type). */
export type InvalidBackoffListener = (source: 'handler' | 'module', reason: string) => void;

/**
 * The delay before retrying attempt number `attempt` of a job: its handler's backoff when the handler has one,
 * else the module's, from the module's base delay. The one rule the executor and the rescuer both apply.
 * A custom function is user code: when it throws or answers no number, the next backoff in line is used (the
 * module's, then the default linear one), so one broken function never keeps a job, or a batch of them, from being
 * written; `onInvalid` hears about it.
 */
export function retryDelayMs(
  module: { backoff: BackoffOption; retryDelayMs: number },
  handlerBackoff: BackoffOption | undefined,
  attempt: number,
  error?: unknown,
  onInvalid: InvalidBackoffListener = () => undefined,
): number {
  const candidates: Array<['handler' | 'module', BackoffOption]> = [];
  if (handlerBackoff !== undefined) candidates.push(['handler', handlerBackoff]);
  candidates.push(['module', module.backoff]);
  for (const [source, backoff] of candidates) {
    try {
      return backoffDelayMs(backoff, attempt, module.retryDelayMs, error);
    } catch (failure) {
      const reason = failure instanceof InvalidBackoffError ? failure.message : `threw ${errorText(failure)}`;
      onInvalid(source, reason);
    }
  }
  return backoffDelayMs({ type: 'linear' }, attempt, module.retryDelayMs);
}

function errorText(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
