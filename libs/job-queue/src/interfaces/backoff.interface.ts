/** Computes the delay before the next attempt; `attempt` is the attempt that just failed (1-based). */
export type BackoffFunction = (attempt: number, error: unknown) => number;

export interface LinearBackoff {
  type: 'linear';
  /** Defaults to the module's `retryDelayMs`. */
  delayMs?: number;
}

export interface ExponentialBackoff {
  type: 'exponential';
  /** Delay of the first retry before jitter; defaults to the module's `retryDelayMs`. */
  delayMs?: number;
  /** Upper bound of any delay. */
  maxDelayMs?: number;
  /** Full jitter (a uniform draw in [0, delay]) spreads retries of a burst of failures. Default true. */
  jitter?: boolean;
}

export type BackoffOption = LinearBackoff | ExponentialBackoff | BackoffFunction;
