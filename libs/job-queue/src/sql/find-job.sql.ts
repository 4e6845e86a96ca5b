import { statement } from './statement';

/** A job by id, live or dead, with the status an operator sees (`pending`, `processing` or `dead`). */
export const findJob = statement(
  'find-job',
  (t) => `
SELECT id, queue, type, payload, status, priority, attempt_count, max_attempts, next_retry_at AS run_at,
       locked_at, locked_by, last_error, idempotency_key, created_at, updated_at, NULL::timestamptz AS failed_at,
       progress, snooze_count
FROM ${t.jobs} WHERE id = $1
UNION ALL
SELECT id, queue, type, payload, 'dead', priority, attempt_count, max_attempts, NULL, NULL, NULL, failure_reason,
       snapshot->>'idempotency_key', created_at, failed_at, failed_at,
       snapshot->'progress', coalesce((snapshot->>'snooze_count')::int, 0)
FROM ${t.deadJobs} WHERE id = $1
LIMIT 1`,
);
