import { statement } from './statement';

/**
 * Running jobs per queue, exactly: `jobs_rescue_idx` holds only `processing` rows, whose number is bounded by the
 * fleet's concurrency, not by the backlog, so this reads few rows however many jobs wait.
 */
export const countProcessingByQueue = statement(
  'count-processing-by-queue',
  (t) => `
SELECT queue, count(*)::int AS count FROM ${t.jobs} WHERE status = 'processing' GROUP BY queue`,
);
