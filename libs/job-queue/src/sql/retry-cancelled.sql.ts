import { statement } from './statement';

/**
 * Brings a cancelled job (kept by retention) back under its own id with fresh attempts, runnable now, in one
 * statement, and wakes the workers on commit (channel $2); as `requeueDead` does for a dead job. With its
 * concurrency key (kept since version 12) and trace context.
 */
export const retryCancelled = statement(
  'retry-cancelled',
  (t) => `
WITH d AS (DELETE FROM ${t.finishedJobs} WHERE id = $1 AND status = 'cancelled' RETURNING *),
r AS (
  INSERT INTO ${t.jobs} (id, queue, type, payload, status, priority, attempt_count, max_attempts, next_retry_at, created_at,
                         concurrency_key, trace_context)
  SELECT id, queue, type, payload, 'pending', priority, 0, max_attempts, now(), created_at, concurrency_key,
         trace_context FROM d
  RETURNING id, queue
)
SELECT r.id, pg_notify($2, r.queue) FROM r`,
);
