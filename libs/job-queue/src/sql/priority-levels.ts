import type { QueueTables } from './identifier';

/**
 * A recursive CTE `levels (queue, type, priority)`: the distinct priorities of pending jobs of each (queue, type)
 * of a CTE `pairs`, one descent of `jobs_available_idx` (queue, type, priority DESC, …) per level. What follows can
 * read each level's first entries in index order, so the cost follows the pairs and priorities in use, not the
 * backlog. Must follow `WITH RECURSIVE` and a `pairs` CTE.
 */
export const priorityLevels = (t: QueueTables) => `levels (queue, type, priority) AS (
  SELECT p.queue, p.type,
         (SELECT j.priority FROM ${t.jobs} j
          WHERE j.status = 'pending' AND j.queue = p.queue AND j.type = p.type
          ORDER BY j.priority DESC LIMIT 1)
  FROM pairs p
  UNION ALL
  SELECT l.queue, l.type,
         (SELECT j.priority FROM ${t.jobs} j
          WHERE j.status = 'pending' AND j.queue = l.queue AND j.type = l.type AND j.priority < l.priority
          ORDER BY j.priority DESC LIMIT 1)
  FROM levels l WHERE l.priority IS NOT NULL
)`;
