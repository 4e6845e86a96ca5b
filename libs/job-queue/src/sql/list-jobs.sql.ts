import type { QueueTables } from './identifier';
import { statement } from './statement';

/**
 * The listings of the admin: one page of jobs in one state, optionally of queue $2 and type $3, in key order after
 * id $4 (keyset paging: the next page starts after the last id), $5 rows at most. Each walks its table's primary
 * key from $4 and stops after a page; the state, queue and type are checked on the rows it meets, so no listing
 * adds an index to the hot `jobs` table (whose writes pay for every index) or sorts. A filter that matches few of
 * the rows walks further for a page; the walk never reads the table outside its key's order.
 */
const jobsPage = (t: QueueTables) => `
SELECT id, queue, type, payload, status, priority, attempt_count, max_attempts, next_retry_at AS run_at, locked_at,
       locked_by, last_error, idempotency_key, created_at, updated_at
FROM ${t.jobs}
WHERE id > $4::uuid AND status = $1 AND ($2::text IS NULL OR queue = $2) AND ($3::text IS NULL OR type = $3)
ORDER BY id
LIMIT $5`;

/** `pending` or `processing` ($1) jobs. */
export const listLiveJobs = statement('list-live-jobs', jobsPage);

/** Dead jobs ($1 is ignored: every row is dead). */
export const listDeadJobs = statement(
  'list-dead-jobs',
  (t) => `
SELECT id, queue, type, payload, 'dead' AS status, priority, attempt_count, max_attempts, failure_reason AS last_error,
       created_at, failed_at
FROM ${t.deadJobs}
WHERE id > $4::uuid AND $1::text = 'dead' AND ($2::text IS NULL OR queue = $2) AND ($3::text IS NULL OR type = $3)
ORDER BY id
LIMIT $5`,
);

/** `completed` or `cancelled` ($1) jobs kept by retention. */
export const listFinishedJobs = statement(
  'list-finished-jobs',
  (t) => `
SELECT id, queue, type, payload, status, priority, attempt_count, max_attempts, next_retry_at AS run_at, started_at,
       locked_by, last_error, idempotency_key, result, created_at, finished_at
FROM ${t.finishedJobs}
WHERE id > $4::uuid AND status = $1 AND ($2::text IS NULL OR queue = $2) AND ($3::text IS NULL OR type = $3)
ORDER BY id
LIMIT $5`,
);
