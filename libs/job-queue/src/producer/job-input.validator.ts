import { INT32_MAX, INT32_MIN, JOB_TYPE_PATTERN } from '../job-queue.constants';
import { JobValidationError } from '../errors/job-queue.errors';
import { messages } from '../job-queue.messages';
import type { JobToEnqueue } from '../interfaces/enqueue-options.interface';

/** A job checked and ready for the insert statement. */
export interface ValidatedJob {
  type: string;
  queue: string;
  payloadJson: string;
  priority: number;
  /** Exactly one of runAt / delayMs is used by the insert; delayMs defaults to 0. */
  runAt: Date | null;
  delayMs: number;
  /** null: resolved by the producer (handler's, then module's). */
  maxAttempts: number | null;
  idempotencyKey: string | null;
  concurrencyKey: string | null;
}

const ALLOWED_KEYS = new Set([
  'type',
  'payload',
  'priority',
  'runAt',
  'delayMs',
  'maxAttempts',
  'queue',
  'idempotencyKey',
  'concurrencyKey',
]);
/** `\u0000` in JSON text that is not itself an escaped backslash followed by the letters `u0000`. */
export const ESCAPED_NUL = /(^|[^\\])(\\\\)*\\u0000/;
/**
 * A `\\uD800`–`\\uDFFF` escape in JSON text (not itself an escaped backslash). `JSON.stringify` writes a surrogate as
 * an escape only when it is unpaired, and jsonb refuses unpaired surrogates.
 */
export const ESCAPED_SURROGATE = /(^|[^\\])(\\\\)*\\u[dD][89a-fA-F][0-9a-fA-F]{2}/;
/** An unpaired surrogate in a JS string: UTF-8 cannot encode it, so the driver would store U+FFFD in its place. */
export const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
/** PostgreSQL's earliest timestamptz, 4714-11-24 BC; its latest (294276 AD) is past any JS Date. */
const MIN_RUN_AT_MS = Date.UTC(-4713, 10, 24);
/** Ten years: a longer delay is almost certainly a unit mistake (seconds vs ms). */
const MAX_DELAY_MS = 10 * 365 * 24 * 3_600_000;

const invalid = (prefix: string, field: string, reason: string): never => {
  throw new JobValidationError(prefix + field, messages.invalidField(prefix + field, reason));
};

function serialise(payload: unknown, prefix: string): string {
  return serialiseJson(payload, prefix, 'payload');
}

/** JSON text of `value` that jsonb will store, or a `JobValidationError` naming `field`; for payloads and progress. */
export function serialiseJson(value: unknown, prefix: string, field: string): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (error) {
    invalid(prefix, field, `is not JSON-serializable (${(error as Error).message})`);
  }
  if (json === undefined) invalid(prefix, field, `is not JSON-serializable (${typeof value})`);
  // jsonb cannot store U+0000; refusing here beats a database error after the job was accepted.
  if (ESCAPED_NUL.test(json!)) invalid(prefix, field, 'contains a NUL character (\\u0000), which jsonb cannot store');
  if (ESCAPED_SURROGATE.test(json!)) {
    invalid(prefix, field, 'contains an unpaired UTF-16 surrogate, which jsonb cannot store');
  }
  return json!;
}

function optionalInteger(value: unknown, prefix: string, field: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    invalid(prefix, field, `must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return value as number;
}

/**
 * Checks one job before anything is written. `prefix` names its place in a batch (`jobs[3].`), so that the error
 * says which job of many is wrong.
 */
export function validateJob(job: JobToEnqueue, maxPayloadBytes: number, prefix = ''): ValidatedJob {
  if (typeof job !== 'object' || job === null) invalid(prefix, 'job', 'must be an object');
  for (const key of Object.keys(job)) {
    if (!ALLOWED_KEYS.has(key)) invalid(prefix, key, 'is not a known option');
  }
  if (typeof job.type !== 'string' || !JOB_TYPE_PATTERN.test(job.type)) {
    invalid(prefix, 'type', `must match ${JOB_TYPE_PATTERN}, got ${JSON.stringify(job.type)}`);
  }
  const queue = job.queue ?? 'default';
  if (typeof queue !== 'string' || !JOB_TYPE_PATTERN.test(queue)) {
    invalid(prefix, 'queue', `must match ${JOB_TYPE_PATTERN}, got ${JSON.stringify(queue)}`);
  }
  const payloadJson = serialise(job.payload, prefix);
  const bytes = Buffer.byteLength(payloadJson, 'utf8');
  if (bytes > maxPayloadBytes)
    invalid(prefix, 'payload', `is ${bytes} bytes of JSON, over the limit of ${maxPayloadBytes}`);

  const priority = optionalInteger(job.priority, prefix, 'priority', INT32_MIN, INT32_MAX) ?? 0;
  const maxAttempts = optionalInteger(job.maxAttempts, prefix, 'maxAttempts', 1, 1_000_000) ?? null;
  const delayMs = optionalInteger(job.delayMs, prefix, 'delayMs', 0, MAX_DELAY_MS) ?? 0;
  let runAt: Date | null = null;
  if (job.runAt !== undefined) {
    if (job.delayMs !== undefined) invalid(prefix, 'runAt', 'and delayMs cannot both be given');
    if (!(job.runAt instanceof Date) || Number.isNaN(job.runAt.getTime()))
      invalid(prefix, 'runAt', 'must be a valid Date');
    if (job.runAt.getTime() < MIN_RUN_AT_MS) {
      invalid(prefix, 'runAt', 'is before 4714-11-24 BC, the earliest time PostgreSQL stores');
    }
    runAt = job.runAt;
  }
  let idempotencyKey: string | null = null;
  if (job.idempotencyKey !== undefined) {
    if (typeof job.idempotencyKey !== 'string' || job.idempotencyKey.length < 1 || job.idempotencyKey.length > 255) {
      invalid(prefix, 'idempotencyKey', 'must be a string of 1 to 255 characters');
    }
    // text cannot hold NUL, and an unpaired surrogate would be stored as U+FFFD, merging distinct keys into one.
    if (job.idempotencyKey.includes('\u0000')) invalid(prefix, 'idempotencyKey', 'contains a NUL character');
    if (LONE_SURROGATE.test(job.idempotencyKey)) {
      invalid(prefix, 'idempotencyKey', 'contains an unpaired UTF-16 surrogate');
    }
    idempotencyKey = job.idempotencyKey;
  }
  const concurrencyKey = validKey(job.concurrencyKey, prefix, 'concurrencyKey');
  return { type: job.type, queue, payloadJson, priority, runAt, delayMs, maxAttempts, idempotencyKey, concurrencyKey };
}

/** A key of 1 to 255 characters that text stores as given (no NUL; no unpaired surrogate, stored as U+FFFD). */
function validKey(value: unknown, prefix: string, field: string): string | null {
  if (value === undefined) return null;
  if (typeof value !== 'string' || value.length < 1 || value.length > 255) {
    invalid(prefix, field, 'must be a string of 1 to 255 characters');
  }
  const key = value as string;
  if (key.includes('\u0000')) invalid(prefix, field, 'contains a NUL character');
  if (LONE_SURROGATE.test(key)) invalid(prefix, field, 'contains an unpaired UTF-16 surrogate');
  return key;
}
