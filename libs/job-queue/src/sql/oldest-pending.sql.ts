import { statement } from './statement';

/**
 * Age in ms of the oldest runnable pending job (null when none), by the database's clock; for the sampled gauge and
 * the health threshold. `min(next_retry_at)` over every runnable row would read the whole backlog: the claim index
 * is ordered by priority first. So it skips through the index instead, one probe per distinct priority (the
 * recursive part finds the next lower priority with one index descent), and within a priority the first runnable
 * entry in index order is its oldest. The cost grows with the number of priorities in use, not with the backlog.
 */
export const oldestPending = statement(
  'oldest-pending',
  (t) => `
WITH RECURSIVE p AS (
  (SELECT priority FROM ${t.jobs} WHERE status = 'pending' ORDER BY priority DESC LIMIT 1)
  UNION ALL
  SELECT (SELECT j.priority FROM ${t.jobs} j WHERE j.status = 'pending' AND j.priority < p.priority
          ORDER BY j.priority DESC LIMIT 1)
  FROM p WHERE p.priority IS NOT NULL
)
SELECT (extract(epoch FROM now() - min(o.next_retry_at)) * 1000)::bigint AS age_ms
FROM p CROSS JOIN LATERAL (
  SELECT j.next_retry_at FROM ${t.jobs} j
  WHERE j.status = 'pending' AND j.priority = p.priority AND j.next_retry_at <= now()
  ORDER BY j.priority DESC, j.next_retry_at LIMIT 1
) o
WHERE p.priority IS NOT NULL`,
);
