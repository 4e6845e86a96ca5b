import { statement } from './statement';

/** How jobs $1 that are no longer live ended: `completed`, `cancelled` (retention on) or `dead`. */
export const findFinishedStatus = statement(
  'find-finished-status',
  (t) => `
SELECT id, status FROM ${t.finishedJobs} WHERE id = ANY ($1::uuid[])
UNION ALL
SELECT id, 'dead' FROM ${t.deadJobs} WHERE id = ANY ($1::uuid[])`,
);
