import { statement } from './statement';

/**
 * Jobs per queue and status, for the depth gauge: bounded in cost whatever the size of the tables. Each table is
 * read through `TABLESAMPLE SYSTEM ($n)`, $n the percentage of its pages to read (100: every page, an exact count;
 * the sampler asks for 100 while a table is small and for a fixed number of pages beyond). The counts of the pages
 * read are scaled back by 100/$n: an estimate, unbiased over the table, whose cost is that number of pages.
 */
export const countByStatusSampled = statement(
  'count-by-status-sampled',
  (t) => `
SELECT queue, status, round(count(*) * 100.0 / $1::float8)::int AS count
FROM ${t.jobs} TABLESAMPLE SYSTEM ($1::float8) GROUP BY queue, status
UNION ALL
SELECT queue, 'dead', round(count(*) * 100.0 / $2::float8)::int
FROM ${t.deadJobs} TABLESAMPLE SYSTEM ($2::float8) GROUP BY queue`,
);
