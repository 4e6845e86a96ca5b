import { statement } from './statement';

/**
 * Dead jobs, counted up to $1 rows: enough to tell whether a health threshold is passed, at a cost bounded by
 * the threshold rather than by the size of the dead-letter table.
 */
export const countDeadUpTo = statement(
  'count-dead-up-to',
  (t) => `SELECT count(*)::int AS count FROM (SELECT 1 FROM ${t.deadJobs} LIMIT $1) d`,
);
