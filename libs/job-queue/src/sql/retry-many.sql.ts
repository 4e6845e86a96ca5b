import { statement } from './statement';

/**
 * Puts failed attempts back to pending after their backoff ($3[i] ms from the database's clock at this statement:
 * `statement_timestamp()`, since a transactional handler's retry is written in its own transaction, whose `now()` is
 * when the attempt began), with the error text, fenced by lock token like every finishing statement. Returned ids
 * were retried; a missing one lost its lease.
 * $5[i] = 1 gives the attempt back: it never reached its handler (its transaction could not start).
 */
export const retryMany = statement(
  'retry-many',
  (t) => `
UPDATE ${t.jobs} j
SET status = 'pending', locked_at = NULL, locked_by = NULL, lock_token = NULL,
    next_retry_at = statement_timestamp() + f.delay_ms * interval '1 millisecond', last_error = f.error,
    updated_at = statement_timestamp(),
    attempt_count = greatest(j.attempt_count - f.refund, 0)
FROM unnest($1::uuid[], $2::uuid[], $3::bigint[], $4::text[], $5::int[]) AS f(id, token, delay_ms, error, refund)
WHERE j.id = f.id AND j.lock_token = f.token
RETURNING j.id`,
);
