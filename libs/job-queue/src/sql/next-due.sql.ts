import { priorityLevels } from './priority-levels';
import { opaqueParam } from './opaque-param';
import { statement } from './statement';

/**
 * Milliseconds from now() to the earliest pending job of the served (queue, type) pairs ($1, $2: parallel arrays)
 * that is not yet due (null when none), for the poller to wake exactly then instead of at its next poll. One
 * index descent per pair and priority level of `jobs_available_idx` (queue, type, priority DESC, next_retry_at),
 * as `oldest-pending.sql.ts` does: the cost follows the pairs and priorities in use, not the backlog. It runs
 * after most wake-ups of an idle worker: its parameters reach the planner through `opaqueParam`, so that it is
 * planned once per connection, not on every execution.
 */
export const nextDue = statement(
  'next-due',
  (t) => `
WITH RECURSIVE pairs AS (SELECT * FROM unnest(${opaqueParam('$1', 'text[]')}, ${opaqueParam('$2', 'text[]')}) AS p(queue, type)),
${priorityLevels(t)}
SELECT (extract(epoch FROM min(o.next_retry_at) - now()) * 1000)::float8 AS due_in_ms
FROM levels l CROSS JOIN LATERAL (
  SELECT j.next_retry_at FROM ${t.jobs} j
  WHERE j.status = 'pending' AND j.queue = l.queue AND j.type = l.type AND j.priority = l.priority
    AND j.next_retry_at > now()
  ORDER BY j.next_retry_at LIMIT 1
) o
WHERE l.priority IS NOT NULL`,
);
