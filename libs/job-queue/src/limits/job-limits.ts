import { createHash } from 'node:crypto';
import { JobQueueConfigError } from '../errors/job-queue.errors';

/** At most `max` starts in any window of `periodMs`, for the type as a whole or, with `perKey`, per key. */
export interface RateLimitOption {
  max: number;
  periodMs: number;
  /** Count per `concurrencyKey` rather than for the whole type. Default false. */
  perKey?: boolean;
}

/** The limit options of `@JobHandler`, as given (checked by `limitsOf`). */
type LimitOptions = { globalConcurrency?: unknown; concurrencyPerKey?: unknown; rateLimit?: unknown };

/** A handler's limits, checked; null fields are limits it does not have. */
export interface JobLimits {
  globalConcurrency: number | null;
  concurrencyPerKey: number | null;
  rateLimit: Required<RateLimitOption> | null;
}

/** Keys a limited claim visits at most: its cost stays bounded whatever the number of keys at their limit. */
export const MAX_KEYS_PER_CLAIM = 200;

const MAX_CONCURRENCY = 1_000_000;
/** A day: a longer window would keep a log of every start of that day in one row. */
const MAX_PERIOD_MS = 86_400_000;
/** Starts kept per window row; the log is an array of this many timestamps at most. */
const MAX_RATE = 10_000;

const invalid = (where: string, option: string, reason: string): never => {
  throw new JobQueueConfigError(`${where} ${option}`, `@JobHandler on ${where}: ${option} ${reason}`);
};

function integer(value: unknown, where: string, option: string, max: number): number | null {
  if (value === undefined) return null;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) {
    invalid(where, option, `must be an integer from 1 to ${max}, got ${JSON.stringify(value)}`);
  }
  return value as number;
}

/**
 * The limits a handler declares, checked (`where` names the handler in errors); null when it declares none, so
 * that its type keeps the unlimited claim.
 */
export function limitsOf(options: LimitOptions, where: string): JobLimits | null {
  const globalConcurrency = integer(options.globalConcurrency, where, 'globalConcurrency', MAX_CONCURRENCY);
  const concurrencyPerKey = integer(options.concurrencyPerKey, where, 'concurrencyPerKey', MAX_CONCURRENCY);
  let rateLimit: Required<RateLimitOption> | null = null;
  const rate = options.rateLimit;
  if (rate !== undefined) {
    if (typeof rate !== 'object' || rate === null) invalid(where, 'rateLimit', 'must be { max, periodMs, perKey? }');
    const { max, periodMs, perKey, ...rest } = rate as Record<string, unknown>;
    const unknownKey = Object.keys(rest)[0];
    if (unknownKey !== undefined) invalid(where, `rateLimit.${unknownKey}`, 'is not a known option');
    if (perKey !== undefined && typeof perKey !== 'boolean') invalid(where, 'rateLimit.perKey', 'must be a boolean');
    rateLimit = {
      max: integer(max, where, 'rateLimit.max', MAX_RATE) ?? invalid(where, 'rateLimit.max', 'is required'),
      periodMs:
        integer(periodMs, where, 'rateLimit.periodMs', MAX_PERIOD_MS) ??
        invalid(where, 'rateLimit.periodMs', 'is required'),
      perKey: (perKey as boolean | undefined) ?? false,
    };
  }
  if (globalConcurrency === null && concurrencyPerKey === null && rateLimit === null) return null;
  return { globalConcurrency, concurrencyPerKey, rateLimit };
}

/**
 * The advisory lock that serialises the limited claims of one type in one schema, as a signed 64-bit integer
 * (decimal text, for the driver): the first 8 bytes of a SHA-256 of schema and type. The same on every instance;
 * a collision with another type only serialises two types' claims, it never breaks a limit.
 */
export function limitLockKey(schemaKey: string, type: string): string {
  const digest = createHash('sha256').update(`job_queue:limits:${schemaKey}:${type}`).digest();
  return digest.readBigInt64BE(0).toString();
}
