import { statement } from './statement';

/**
 * Jobs per queue and status, dead ones included: one statement for the stats endpoint and the depth gauge.
 * It counts rows, so it reads the whole of both tables: run it on an interval, never per job or per scrape.
 */
export const countByStatus = statement(
  'count-by-status',
  (t) => `
SELECT queue, status, count(*)::int AS count FROM ${t.jobs} GROUP BY queue, status
UNION ALL
SELECT queue, 'dead', count(*)::int FROM ${t.deadJobs} GROUP BY queue`,
);
