import { statement } from './statement';

/**
 * Hands jobs back at shutdown: pending, runnable now, lock cleared, and the interrupted attempt refunded (the job
 * did not fail; the instance stopped). Rows still held by a live transaction are skipped: that transaction ends
 * with its connection and the rescuer takes the row after its lease.
 */
export const releaseMany = statement(
  'release-many',
  (t) => `
WITH l AS MATERIALIZED (
  SELECT j.id FROM ${t.jobs} j
  JOIN unnest($1::uuid[], $2::uuid[]) AS f(id, token) ON j.id = f.id AND j.lock_token = f.token
  FOR UPDATE OF j SKIP LOCKED
)
UPDATE ${t.jobs} j
SET status = 'pending', locked_at = NULL, locked_by = NULL, lock_token = NULL, next_retry_at = now(),
    attempt_count = greatest(j.attempt_count - 1, 0), updated_at = now()
FROM l WHERE j.id = l.id
RETURNING j.id`,
);
