import { statement } from './statement';

/**
 * The vacuum of one table runs on one instance at a time: a session-level advisory lock (VACUUM cannot run inside a
 * transaction, so a transaction-scoped lock cannot cover it), tried, never waited for. The first key marks the lock
 * as this library's vacuum; the second is the qualified table name ($1). Released by `releaseVacuumLock`, or by
 * the end of the session if that fails. It also returns the backend's pid, so that shutdown can cancel the VACUUM.
 */
export const tryVacuumLock = statement(
  'try-vacuum-lock',
  () => `SELECT pg_try_advisory_lock(736402, hashtext($1)) AS locked, pg_backend_pid() AS pid`,
);

export const releaseVacuumLock = statement(
  'release-vacuum-lock',
  () => `SELECT pg_advisory_unlock(736402, hashtext($1)) AS released`,
);
