import { statement } from './statement';

/**
 * First statement of a transactional handler's transaction: re-checks that the attempt still holds the job and
 * locks the row until the transaction ends, which fences out the rescuer and any stale worker.
 */
export const lockForTransaction = statement(
  'lock-for-transaction',
  (t) => `SELECT id FROM ${t.jobs} WHERE id = $1 AND lock_token = $2 FOR UPDATE`,
);
