import { statement } from './statement';

/**
 * The heartbeat: renews the leases of an instance's in-flight jobs in one statement. Rows locked by someone else
 * at this moment (a transactional handler, a completion, the rescuer) are skipped rather than waited for, so the
 * heartbeat never queues behind a long transaction or joins a deadlock; the caller checks the skipped ones.
 */
export const renewLeases = statement(
  'renew-leases',
  (t) => `
WITH f AS (SELECT * FROM unnest($1::uuid[], $2::uuid[]) AS f(id, token)),
l AS MATERIALIZED (
  SELECT j.id FROM ${t.jobs} j JOIN f ON j.id = f.id AND j.lock_token = f.token
  FOR UPDATE OF j SKIP LOCKED
)
UPDATE ${t.jobs} j SET locked_at = now()
FROM l WHERE j.id = l.id
RETURNING j.id`,
);
