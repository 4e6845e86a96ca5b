import { statement } from './statement';

/** The newest dead jobs first; `dead_jobs_failed_at_idx` serves the order. */
export const listDead = statement(
  'list-dead',
  (t) => `
SELECT id, queue, type, payload, priority, failure_reason, attempt_count, max_attempts, created_at, failed_at
FROM ${t.deadJobs}
ORDER BY failed_at DESC, id DESC
LIMIT $1`,
);
