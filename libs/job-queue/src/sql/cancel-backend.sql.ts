import { statement } from './statement';

/**
 * Cancels the statement a backend runs (a VACUUM of the queue's tables, at shutdown), without ending its session:
 * the VACUUM stops at its next check and the connection returns to the pool, so shutdown never waits for it.
 */
export const cancelBackend = statement('cancel-backend', () => `SELECT pg_cancel_backend($1::int) AS cancelled`);
