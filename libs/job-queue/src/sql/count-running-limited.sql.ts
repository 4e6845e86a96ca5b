import { statement } from './statement';

/**
 * Running (`processing`) jobs of the given types ($1), per type and per key (null key: the type's total), for the
 * admin's view of the limits. Reads the in-flight rows only (`jobs_rescue_idx`), never the backlog.
 */
export const countRunningLimited = statement(
  'count-running-limited',
  (t) => `
SELECT type, concurrency_key AS key, count(*)::int AS running
FROM ${t.jobs}
WHERE status = 'processing' AND type = ANY ($1::text[])
GROUP BY GROUPING SETS ((type), (type, concurrency_key))
HAVING NOT (GROUPING(concurrency_key) = 0 AND concurrency_key IS NULL)
ORDER BY type, concurrency_key NULLS FIRST`,
);
