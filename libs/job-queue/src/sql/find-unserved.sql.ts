import { pendingPairs } from './pending-pairs';
import { statement } from './statement';

/**
 * The (queue, type) pairs that have pending jobs and no live worker serving both, with their pending count.
 * Bounded whatever the backlog: the distinct pairs come from a loose index scan (one index probe per pair, through
 * the claim index, which leads with queue and type), at most $3 pairs are walked, at most $1 returned, and each
 * count stops at $2 rows. Pending includes delayed jobs: a job due later still waits for a worker that does not
 * exist. Workers whose row expired (no heartbeat for a lease) do not count.
 */
export const findUnserved = statement(
  'find-unserved',
  (t) => `
WITH RECURSIVE ${pendingPairs(t, '$3')},
live AS MATERIALIZED (SELECT queues, types FROM ${t.workers} WHERE expires_at > now())
SELECT p.queue, p.type,
       (SELECT count(*)::int FROM (
          SELECT 1 FROM ${t.jobs} j WHERE j.status = 'pending' AND j.queue = p.queue AND j.type = p.type LIMIT $2
        ) c) AS pending
FROM pairs p
WHERE NOT EXISTS (SELECT 1 FROM live w WHERE p.queue = ANY (w.queues) AND p.type = ANY (w.types))
ORDER BY p.queue, p.type
LIMIT $1`,
);
