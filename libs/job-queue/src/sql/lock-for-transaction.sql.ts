import { statement } from './statement';

/**
 * First statement of a transactional handler's transaction: re-checks that the attempt still holds the job and
 * locks the row until the transaction ends, which fences out the rescuer and any stale worker. The backend's pid
 * lets shutdown end a transaction whose handler will not stop, instead of leaving the row locked.
 */
export const lockForTransaction = statement(
  'lock-for-transaction',
  (t) => `SELECT id, pg_backend_pid() AS pid FROM ${t.jobs} WHERE id = $1 AND lock_token = $2 FOR UPDATE`,
);
