import { statement } from './statement';

/** Age in ms of the oldest runnable pending job (null when none), by the database's clock; for health thresholds. */
export const oldestPending = statement(
  'oldest-pending',
  (t) => `
SELECT (extract(epoch FROM now() - min(next_retry_at)) * 1000)::bigint AS age_ms
FROM ${t.jobs} WHERE status = 'pending' AND next_retry_at <= now()`,
);
