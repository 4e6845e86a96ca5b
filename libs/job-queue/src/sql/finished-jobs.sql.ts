import type { QueueTables } from './identifier';

/**
 * The INSERT that keeps finished jobs (retention on), as a data-modifying CTE over `source`, a CTE of deleted
 * `jobs` rows: the row leaves `jobs` and enters `finished_jobs` in one statement, so a job is never in both or in
 * neither. `started_at` is the claim's `updated_at` (nothing else writes `updated_at` while a job is processing);
 * a job cancelled while pending never started. A conflict can only come from an id moved back to `jobs` by hand
 * since: the newer end wins. `finished_at` is the statement's time, not `now()`: a transactional handler's completion
 * is written in its own transaction, whose `now()` is when the attempt began.
 */
export const keepFinished = (t: QueueTables, source: string, status: string, result: string) => `
  INSERT INTO ${t.finishedJobs} (id, queue, type, payload, status, priority, attempt_count, max_attempts,
                                 next_retry_at, started_at, locked_by, last_error, idempotency_key, result, created_at,
                                 concurrency_key, trace_context, finished_at)
  SELECT id, queue, type, payload, ${status}, priority, attempt_count, max_attempts, next_retry_at,
         CASE WHEN status = 'processing' THEN updated_at END, locked_by, last_error, idempotency_key, ${result},
         created_at, concurrency_key, trace_context, statement_timestamp()
  FROM ${source}
  ON CONFLICT (id) DO UPDATE SET status = excluded.status, attempt_count = excluded.attempt_count,
    started_at = excluded.started_at, locked_by = excluded.locked_by, last_error = excluded.last_error,
    result = excluded.result, concurrency_key = excluded.concurrency_key, trace_context = excluded.trace_context,
    finished_at = excluded.finished_at`;
