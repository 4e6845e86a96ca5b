import { statement } from './statement';

/**
 * Writes the progress of running attempts, fenced by lock token: only the lease holder writes. Rows locked by
 * another transaction are skipped rather than waited for (a transactional job's own transaction holds its row until
 * it deletes it): a progress write never holds a connection behind a lock. Returned ids were written.
 */
export const writeProgress = statement(
  'write-progress',
  (t) => `
WITH l AS MATERIALIZED (
  SELECT j.id, f.value FROM ${t.jobs} j
  JOIN unnest($1::uuid[], $2::uuid[], $3::text[]) AS f(id, token, value) ON j.id = f.id AND j.lock_token = f.token
  FOR UPDATE OF j SKIP LOCKED
)
UPDATE ${t.jobs} j
SET progress = l.value::jsonb, updated_at = now()
FROM l WHERE j.id = l.id
RETURNING j.id`,
);
