import type { QueueTables } from './identifier';
import { statement } from './statement';

/**
 * Hands jobs back at shutdown: pending, runnable now, lock cleared, and the interrupted attempt refunded (the job
 * did not fail; the instance stopped). Only rows still under the given lease: a job cancelled or recovered
 * elsewhere meanwhile is not touched.
 *
 * Rows are taken `SKIP LOCKED` first (`releaseMany`), so the release of a batch never waits behind one row; then
 * the rows of the batch that were locked but are still ours (our own heartbeat renewing them, another instance's
 * claim that met a row this one had just claimed, a transactional handler's session being ended) are taken waiting
 * (`releaseManyWaiting`, under a lock timeout), in id order, as the waiting cancel takes them. Skipped, such a row
 * would stay `processing` under a stopped instance until its lease expired, its attempt spent.
 */
const release = (t: QueueTables, lock: string) => `
WITH l AS MATERIALIZED (
  SELECT j.id FROM ${t.jobs} j
  JOIN unnest($1::uuid[], $2::uuid[]) AS f(id, token) ON j.id = f.id AND j.lock_token = f.token
  ${lock}
)
UPDATE ${t.jobs} j
SET status = 'pending', locked_at = NULL, locked_by = NULL, lock_token = NULL, next_retry_at = now(),
    attempt_count = greatest(j.attempt_count - 1, 0), updated_at = now()
FROM l WHERE j.id = l.id
RETURNING j.id`;

export const releaseMany = statement('release-many', (t) => release(t, 'FOR UPDATE OF j SKIP LOCKED'));

export const releaseManyWaiting = statement('release-many-waiting', (t) => release(t, 'ORDER BY j.id FOR UPDATE OF j'));
