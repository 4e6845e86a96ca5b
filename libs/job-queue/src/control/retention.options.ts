import type { JobRetentionOptions } from '../interfaces/job-queue-options.interface';
import { JOB_QUEUE_DEFAULTS } from '../job-queue.defaults';

/** Node's timers treat a longer delay as 1 ms (see `MAX_TIMER_MS`); retention periods are bounded by PostgreSQL's. */
const MAX_TIMER_MS = 2_147_483_647;
/** About a hundred years: the retention periods go into `now() - interval`, far within PostgreSQL's range. */
const MAX_RETENTION_MS = 3_153_600_000_000;

/** Merges the retention defaults into the user's `retention` and validates it; a bad field names itself. */
export function resolveRetention(
  input: unknown,
  fail: (option: string, reason: string) => never,
): Required<JobRetentionOptions> {
  const defaults = JOB_QUEUE_DEFAULTS.retention;
  if (input === undefined) return { ...defaults };
  if (typeof input !== 'object' || input === null || Array.isArray(input)) fail('retention', 'must be an object');
  const given = input as Record<string, unknown>;
  for (const key of Object.keys(given)) {
    if (!(key in defaults)) fail(`retention.${key}`, 'is not a known option');
  }
  const merged = { ...defaults, ...Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined)) };
  const bounds: Record<keyof JobRetentionOptions, [number, number]> = {
    completedMs: [0, MAX_RETENTION_MS],
    deadMs: [0, MAX_RETENTION_MS],
    pruneIntervalMs: [100, MAX_TIMER_MS],
    pruneBatchSize: [1, 100_000],
    maxResultBytes: [0, 16_777_216],
  };
  for (const [key, [min, max]] of Object.entries(bounds)) {
    const value = (merged as Record<string, unknown>)[key];
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      fail(`retention.${key}`, `must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
    }
  }
  return merged;
}
