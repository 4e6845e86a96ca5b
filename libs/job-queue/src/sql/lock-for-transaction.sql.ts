import { statement } from './statement';

/**
 * First statement of a transactional handler's transaction: re-checks that the attempt still holds the job and
 * locks the row until the transaction ends, which fences out the rescuer and any stale worker. The backend's pid and
 * its transaction's start (as text: microseconds, exactly as pg_stat_activity.xact_start shows them) let shutdown
 * end this very transaction when its handler will not stop, and no later user of the same connection.
 */
export const lockForTransaction = statement(
  'lock-for-transaction',
  (t) =>
    `SELECT id, pg_backend_pid() AS pid, now()::text AS xact_start FROM ${t.jobs} WHERE id = $1 AND lock_token = $2 FOR UPDATE`,
);
