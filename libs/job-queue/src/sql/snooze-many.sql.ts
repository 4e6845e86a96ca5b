import { statement } from './statement';

/**
 * Puts snoozed jobs back to pending, due $3[i] ms from the database's clock at this statement (not `now()`: a
 * transactional handler's snooze is written in its own transaction, which began with the attempt), fenced by lock
 * token like every finishing statement. A snooze is not a failure: the claim's attempt is given back (the claim
 * counted it) and `last_error` is kept as it was; `snooze_count` counts it instead, which the cap (`maxSnoozes`)
 * reads. Returned ids were snoozed; a missing one lost its lease.
 */
export const snoozeMany = statement(
  'snooze-many',
  (t) => `
UPDATE ${t.jobs} j
SET status = 'pending', locked_at = NULL, locked_by = NULL, lock_token = NULL,
    next_retry_at = statement_timestamp() + f.delay_ms * interval '1 millisecond',
    updated_at = statement_timestamp(),
    attempt_count = greatest(j.attempt_count - 1, 0), snooze_count = j.snooze_count + 1
FROM unnest($1::uuid[], $2::uuid[], $3::bigint[]) AS f(id, token, delay_ms)
WHERE j.id = f.id AND j.lock_token = f.token
RETURNING j.id`,
);
