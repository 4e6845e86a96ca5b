import { statement } from './statement';

/**
 * Moves jobs to the dead-letter table in one statement (the delete and the insert commit together, so a job is
 * never in both tables or in neither), fenced by lock token. The snapshot keeps the whole row as it died, with
 * the final error and its stack. `failed_at` is the statement's time: a transactional handler's death is written in
 * its own transaction, whose `now()` is when the attempt began.
 */
export const killMany = statement(
  'kill-many',
  (t) => `
WITH f AS (
  SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[]) AS f(id, token, reason, stack)
),
d AS (
  DELETE FROM ${t.jobs} j USING f
  WHERE j.id = f.id AND j.lock_token = f.token
  RETURNING j.*
)
INSERT INTO ${t.deadJobs} (id, queue, type, payload, priority, failure_reason, attempt_count, max_attempts, created_at, snapshot,
                          failed_at)
SELECT d.id, d.queue, d.type, d.payload, d.priority, f.reason, d.attempt_count, d.max_attempts, d.created_at,
       to_jsonb(d) || jsonb_build_object('last_error', f.reason, 'stack', f.stack), statement_timestamp()
FROM d JOIN f ON f.id = d.id
RETURNING id`,
);
