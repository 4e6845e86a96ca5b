import { createHash } from 'node:crypto';
import { JobValidationError } from '../errors/job-queue.errors';
import { INT32_MAX, INT32_MIN, JOB_TYPE_PATTERN } from '../job-queue.constants';
import { messages } from '../job-queue.messages';
import { CronSlots } from './cron-slots';
import type { ScheduleCatchUp, ScheduleInput } from './schedule-options.interface';

/** Backfill fires at most this many missed slots at once. */
export const MAX_BACKFILL = 1_000;

export type CatchUpPolicy = { policy: 'skip' } | { policy: 'latest' } | { policy: 'backfill'; limit: number };

/** A validated schedule, ready to be written; `hash` identifies its definition. */
export interface ScheduleDefinition {
  name: string;
  cron: string;
  timezone: string;
  type: string;
  queue: string;
  payloadJson: string;
  priority: number;
  maxAttempts: number | null;
  overlap: 'allow' | 'skip';
  catchUp: CatchUpPolicy;
  hash: string;
}

/**
 * Checks a schedule before anything is written; a `JobValidationError` names the field (`cron`, `timezone`, …).
 * The cron expression and zone are checked by computing a slot with them, so whatever the library would refuse
 * later is refused here.
 */
export function validateSchedule(input: ScheduleInput, maxPayloadBytes: number): ScheduleDefinition {
  if (typeof input !== 'object' || input === null) throw invalid('schedule', 'must be an object');
  const name = input.name;
  if (typeof name !== 'string' || !JOB_TYPE_PATTERN.test(name)) {
    throw invalid('name', 'must be 1 to 255 letters, digits or . _ : -');
  }
  if (typeof input.type !== 'string' || !JOB_TYPE_PATTERN.test(input.type)) {
    throw invalid('type', 'must be 1 to 255 letters, digits or . _ : -');
  }
  const queue = input.queue ?? 'default';
  if (typeof queue !== 'string' || !JOB_TYPE_PATTERN.test(queue)) {
    throw invalid('queue', 'must be 1 to 255 letters, digits or . _ : -');
  }
  const timezone = input.timezone ?? 'UTC';
  if (typeof timezone !== 'string' || !isTimeZone(timezone)) {
    throw invalid('timezone', `${JSON.stringify(timezone)} is not an IANA time zone`);
  }
  if (typeof input.cron !== 'string') throw invalid('cron', 'must be a string');
  const cron = input.cron.trim().replace(/\s+/g, ' ');
  const fields = cron.split(' ').length;
  if (!cron.startsWith('@') && fields !== 5 && fields !== 6) {
    throw invalid('cron', `must have 5 fields, or 6 with seconds first (got ${fields})`);
  }
  try {
    new CronSlots(cron, timezone).next(Date.now());
  } catch (error) {
    throw invalid('cron', (error as Error).message);
  }
  const payloadJson = serialise(input.payload === undefined ? {} : input.payload);
  if (Buffer.byteLength(payloadJson) > maxPayloadBytes) {
    throw invalid('payload', `is larger than ${maxPayloadBytes} bytes`);
  }
  const priority = input.priority ?? 0;
  if (!Number.isInteger(priority) || priority < INT32_MIN || priority > INT32_MAX) {
    throw invalid('priority', 'must be a 32-bit integer');
  }
  const maxAttempts = input.maxAttempts ?? null;
  if (maxAttempts !== null && (!Number.isInteger(maxAttempts) || maxAttempts < 1 || maxAttempts > INT32_MAX)) {
    throw invalid('maxAttempts', 'must be a positive integer');
  }
  const overlap = input.overlap ?? 'allow';
  if (overlap !== 'allow' && overlap !== 'skip') throw invalid('overlap', 'must be "allow" or "skip"');
  const catchUp = parseCatchUp(input.catchUp);
  const definition = { name, cron, timezone, type: input.type, queue, payloadJson, priority, maxAttempts, overlap };
  const hash = createHash('sha256')
    .update(JSON.stringify({ ...definition, catchUp }))
    .digest('hex')
    .slice(0, 32);
  return { ...definition, catchUp, hash };
}

/** `'skip' | 'latest' | N` (backfill up to N); default `'latest'`. */
export function parseCatchUp(value: ScheduleCatchUp | undefined): CatchUpPolicy {
  if (value === undefined || value === 'latest') return { policy: 'latest' };
  if (value === 'skip') return { policy: 'skip' };
  if (typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= MAX_BACKFILL) {
    return { policy: 'backfill', limit: value };
  }
  throw invalid('catchUp', `must be "skip", "latest" or an integer from 1 to ${MAX_BACKFILL} (backfill)`);
}

/** The stored policy in the form the service takes it. */
export function catchUpOf(policy: string, limit: number): ScheduleCatchUp {
  return policy === 'backfill' ? limit : (policy as 'skip' | 'latest');
}

function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return zone.length > 0;
  } catch {
    return false;
  }
}

function serialise(payload: unknown): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(payload);
  } catch (error) {
    throw invalid('payload', `is not JSON-serialisable: ${(error as Error).message}`);
  }
  if (json === undefined) throw invalid('payload', 'is not JSON-serialisable');
  return json;
}

function invalid(field: string, reason: string): JobValidationError {
  return new JobValidationError(field, messages.invalidScheduleField(field, reason));
}
