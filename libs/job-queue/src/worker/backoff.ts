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
    delay = backoff(attempt, error);
  } else if (backoff.type === 'linear') {
    delay = attempt * (backoff.delayMs ?? baseDelayMs);
  } else {
    const cap = backoff.maxDelayMs ?? DEFAULT_MAX_BACKOFF_MS;
    const ceiling = Math.min(cap, (backoff.delayMs ?? baseDelayMs) * 2 ** Math.min(attempt - 1, 52));
    delay = backoff.jitter === false ? ceiling : random() * ceiling;
  }
  // A custom function may return anything; the database gets a whole number of ms from 0 to a year.
  if (Number.isNaN(delay) || delay <= 0) return 0;
  return Math.min(MAX_BACKOFF_MS, Math.round(delay));
}

/**
 * The delay before retrying attempt number `attempt` of a job: its handler's backoff when the handler has one,
 * else the module's, from the module's base delay. The one rule the executor and the rescuer both apply.
 */
export function retryDelayMs(
  module: { backoff: BackoffOption; retryDelayMs: number },
  handlerBackoff: BackoffOption | undefined,
  attempt: number,
  error?: unknown,
): number {
  return backoffDelayMs(handlerBackoff ?? module.backoff, attempt, module.retryDelayMs, error);
}
