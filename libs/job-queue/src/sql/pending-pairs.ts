import type { QueueTables } from './identifier';

/**
 * A recursive CTE `pairs (queue, type, n)`: the distinct (queue, type) pairs that have pending jobs, in order, by a
 * loose scan of `jobs_available_idx` (which leads with queue and type): one index descent per pair, whatever the
 * backlog. `maxPairsParam` (e.g. `$1`) bounds how many pairs are walked. Part of a `WITH RECURSIVE`.
 */
export const pendingPairs = (t: QueueTables, maxPairsParam: string) => `
pairs (queue, type, n) AS (
  (SELECT queue, type, 1 FROM ${t.jobs} WHERE status = 'pending' ORDER BY queue, type LIMIT 1)
  UNION ALL
  SELECT next.queue, next.type, p.n + 1
  FROM pairs p, LATERAL (
    SELECT j.queue, j.type FROM ${t.jobs} j
    WHERE j.status = 'pending' AND (j.queue, j.type) > (p.queue, p.type)
    ORDER BY j.queue, j.type LIMIT 1
  ) next
  WHERE p.n < ${maxPairsParam}
)`;
