import { statement } from './statement';

/**
 * A job by id in any state: live (`pending`, `processing`), `dead`, or kept by retention (`completed`,
 * `cancelled`), with `run_at` (when it is or was due), `started_at`, `finished_at`, `result` and, while it is live or
 * dead, its `progress`, `snooze_count`, `concurrency_key` and schedule slot. Three primary-key lookups.
 */
export const findJobAny = statement(
  'find-job-any',
  (t) => `
SELECT id, queue, type, payload, status, priority, attempt_count, max_attempts, next_retry_at AS run_at,
       locked_at, locked_by, last_error, idempotency_key, created_at, updated_at, NULL::timestamptz AS failed_at,
       CASE WHEN status = 'processing' THEN updated_at END AS started_at, NULL::timestamptz AS finished_at,
       NULL::jsonb AS result, progress, snooze_count, concurrency_key, schedule_name, scheduled_for
FROM ${t.jobs} WHERE id = $1
UNION ALL
SELECT id, queue, type, payload, 'dead', priority, attempt_count, max_attempts, NULL, NULL, NULL, failure_reason,
       snapshot->>'idempotency_key', created_at, failed_at, failed_at, NULL, failed_at, NULL, snapshot->'progress',
       coalesce((snapshot->>'snooze_count')::int, 0), snapshot->>'concurrency_key', snapshot->>'schedule_name',
       (snapshot->>'scheduled_for')::timestamptz
FROM ${t.deadJobs} WHERE id = $1
UNION ALL
SELECT id, queue, type, payload, status, priority, attempt_count, max_attempts, next_retry_at, NULL, locked_by,
       last_error, idempotency_key, created_at, finished_at, NULL, started_at, finished_at, result, NULL, NULL, NULL,
       NULL, NULL
FROM ${t.finishedJobs} WHERE id = $1
LIMIT 1`,
);
