import { statement } from './statement';

/**
 * The rescuer's first step, inside its transaction: locks up to $2 processing jobs whose lease ran out more than
 * $1 ms ago, oldest first. SKIP LOCKED makes concurrent rescuers on every instance split the work, and passes over
 * rows a transactional handler holds: a live transaction is its own lease.
 */
export const findExpired = statement(
  'find-expired',
  (t) => `
SELECT id, queue, type, attempt_count, max_attempts, lock_token, payload
FROM ${t.jobs}
WHERE status = 'processing' AND locked_at < now() - $1::bigint * interval '1 millisecond'
ORDER BY locked_at
LIMIT $2
FOR UPDATE SKIP LOCKED`,
);
