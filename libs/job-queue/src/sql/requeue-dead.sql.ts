import { statement } from './statement';

/**
 * Brings a dead job back under its own id with fresh attempts, in one statement (the move is atomic), runnable
 * now, and wakes the workers on commit. The idempotency key is not restored: a new live job may hold it by now.
 * Its concurrency key and trace context come back from the snapshot the kill took of the row (`kill-many`):
 * without its key, the job would run outside its per-key limits.
 */
export const requeueDead = statement(
  'requeue-dead',
  (t) => `
WITH d AS (DELETE FROM ${t.deadJobs} WHERE id = $1 RETURNING *),
r AS (
  INSERT INTO ${t.jobs} (id, queue, type, payload, status, priority, attempt_count, max_attempts, next_retry_at, created_at,
                         concurrency_key, trace_context)
  SELECT id, queue, type, payload, 'pending', priority, 0, max_attempts, now(), created_at,
         snapshot ->> 'concurrency_key', nullif(snapshot -> 'trace_context', 'null'::jsonb) FROM d
  RETURNING id, queue
)
SELECT r.id, pg_notify($2, r.queue) FROM r`,
);
