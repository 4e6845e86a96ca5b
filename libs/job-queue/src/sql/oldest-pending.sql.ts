import { pendingPairs } from './pending-pairs';
import { priorityLevels } from './priority-levels';
import { statement } from './statement';

/**
 * Age in ms of the oldest runnable pending job (null when none), by the database's clock; for the sampled gauge and
 * the health threshold. `min(next_retry_at)` over every runnable row would read the whole backlog, since
 * `jobs_available_idx` orders by (queue, type, priority DESC, next_retry_at). So it skips through the index instead:
 * the distinct (queue, type) pairs ($1 at most), then each pair's distinct priorities, one index descent each; within
 * a pair and priority the first runnable entry in index order is its oldest. The cost grows with the pairs and
 * priorities in use, not with the backlog.
 */
export const oldestPending = statement(
  'oldest-pending',
  (t) => `
WITH RECURSIVE ${pendingPairs(t, '$1')},
${priorityLevels(t)}
SELECT (extract(epoch FROM now() - min(o.next_retry_at)) * 1000)::bigint AS age_ms
FROM levels l CROSS JOIN LATERAL (
  SELECT j.next_retry_at FROM ${t.jobs} j
  WHERE j.status = 'pending' AND j.queue = l.queue AND j.type = l.type AND j.priority = l.priority
    AND j.next_retry_at <= now()
  ORDER BY j.next_retry_at LIMIT 1
) o
WHERE l.priority IS NOT NULL`,
);
