import { JobQueueConfigError } from './errors/job-queue.errors';
import { JOB_QUEUE_DEFAULTS } from './job-queue.defaults';
import { JOB_TYPE_PATTERN } from './job-queue.constants';
import { messages } from './job-queue.messages';
import type { BackoffOption } from './interfaces/backoff.interface';
import type { JobQueueModuleOptions, ResolvedJobQueueOptions } from './interfaces/job-queue-options.interface';
import { isSafeIdentifier } from './sql/identifier';
import { resolveRetention } from './control/retention.options';

const fail = (option: string, reason: string): never => {
  throw new JobQueueConfigError(option, messages.invalidOption(option, reason));
};

/** Node's timers treat any delay over 2^31 - 1 ms (about 24.8 days) as 1 ms: no interval or timeout may exceed it. */
export const MAX_TIMER_MS = 2_147_483_647;

function integer(options: Record<string, unknown>, name: string, min: number, max: number, label = name) {
  const value = options[name];
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    fail(label, `must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
}

export function validateBackoff(backoff: unknown, option: string): asserts backoff is BackoffOption {
  if (typeof backoff === 'function') return;
  if (typeof backoff !== 'object' || backoff === null) fail(option, 'must be a function or { type: ... }');
  const b = backoff as Record<string, unknown>;
  if (b.type !== 'linear' && b.type !== 'exponential') fail(option, `type must be "linear" or "exponential"`);
  for (const key of ['delayMs', 'maxDelayMs'] as const) {
    if (b[key] !== undefined) integer(b, key, 0, MAX_TIMER_MS, `${option}.${key}`);
  }
  if (b.jitter !== undefined && typeof b.jitter !== 'boolean') fail(`${option}.jitter`, 'must be a boolean');
}

/** @internal Merges the defaults into the user's options and validates the result; a bad option names itself. */
export function resolveJobQueueOptions(input: JobQueueModuleOptions = {}): ResolvedJobQueueOptions {
  if (typeof input !== 'object' || input === null) fail('options', 'must be an object');
  const known = new Set([...Object.keys(JOB_QUEUE_DEFAULTS), 'dataSource', 'connectionUrl', 'isGlobal']);
  for (const key of Object.keys(input)) {
    if (!known.has(key)) fail(key, 'is not a known option');
  }
  const defined = Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined));
  const options = { ...JOB_QUEUE_DEFAULTS, ...defined } as ResolvedJobQueueOptions;
  const raw = options as unknown as Record<string, unknown>;

  if (!options.dataSource && !options.connectionUrl) fail('connectionUrl', 'or "dataSource" is required');
  if (options.connectionUrl !== undefined && !/^postgres(ql)?:\/\//.test(String(options.connectionUrl))) {
    fail('connectionUrl', 'must be a postgres:// or postgresql:// URL');
  }
  if (!isSafeIdentifier(options.schema)) {
    fail(
      'schema',
      `must match ^[a-z_][a-z0-9_]{0,62}$ (an unquoted PostgreSQL identifier), got ${JSON.stringify(options.schema)}`,
    );
  }
  if (!Array.isArray(options.queues) || options.queues.length === 0) fail('queues', 'must be a non-empty array');
  for (const queue of options.queues) {
    if (typeof queue !== 'string' || !JOB_TYPE_PATTERN.test(queue)) {
      fail('queues', `has an invalid queue name ${JSON.stringify(queue)}`);
    }
  }
  integer(raw, 'poolSize', 2, 1_000);
  integer(raw, 'concurrency', 0, 10_000);
  integer(raw, 'prefetch', 0, 10_000);
  integer(raw, 'pollIntervalMs', 10, MAX_TIMER_MS);
  integer(raw, 'leaseMs', 1_000, MAX_TIMER_MS);
  integer(raw, 'recoveryIntervalMs', 100, MAX_TIMER_MS);
  integer(raw, 'maxAttempts', 1, 1_000_000);
  integer(raw, 'retryDelayMs', 0, MAX_TIMER_MS);
  integer(raw, 'shutdownTimeoutMs', 0, MAX_TIMER_MS);
  integer(raw, 'maxPayloadBytes', 1, 1_073_741_823);
  integer(raw, 'completionBatchDelayMs', 0, 1_000);
  integer(raw, 'recoveryBatchSize', 1, 100_000);
  integer(raw, 'depthSampleIntervalMs', 0, MAX_TIMER_MS);
  integer(raw, 'listenerCheckIntervalMs', 0, MAX_TIMER_MS);
  integer(raw, 'vacuumThreshold', 0, 2_000_000_000);
  integer(raw, 'vacuumIntervalMs', 100, MAX_TIMER_MS);
  integer(raw, 'scheduleLeadMs', 0, 60_000);
  integer(raw, 'scheduleMisfireGraceMs', 0, MAX_TIMER_MS);
  integer(raw, 'scheduleRefreshIntervalMs', 100, MAX_TIMER_MS);
  integer(raw, 'maxSnoozes', 0, 1_000_000);
  integer(raw, 'progressIntervalMs', 0, MAX_TIMER_MS);
  integer(raw, 'maxProgressBytes', 1, 1_073_741_823);
  for (const flag of ['runMigrations', 'pollOnly', 'rebuildBloatedIndexes'] as const) {
    if (typeof options[flag] !== 'boolean') fail(flag, 'must be a boolean');
  }
  if (typeof options.instanceId !== 'string' || options.instanceId.length === 0 || options.instanceId.length > 255) {
    fail('instanceId', 'must be a string of 1 to 255 characters');
  }
  validateBackoff(options.backoff, 'backoff');
  options.retention = resolveRetention(input.retention, fail);
  return options;
}
