import { statement } from './statement';

/** The first key of the advisory lock of each kind of table maintenance; the second is the table's name. */
export const MAINTENANCE_LOCK = { vacuum: 736402, rebuild: 736403 } as const;

export type MaintenanceKind = keyof typeof MAINTENANCE_LOCK;

/**
 * Each kind of maintenance of a table runs on one instance at a time: a session-level advisory lock (VACUUM and
 * `REINDEX … CONCURRENTLY` cannot run inside a transaction, so a transaction-scoped lock cannot cover them), tried,
 * never waited for. $1 is the kind's key (`MAINTENANCE_LOCK`), $2 the qualified table name. Released by
 * `releaseMaintenanceLock`, or by the end of the session if that fails. It also returns the backend's pid, so that
 * shutdown can cancel the statement.
 */
export const tryMaintenanceLock = statement(
  'try-maintenance-lock',
  () => `SELECT pg_try_advisory_lock($1::int, hashtext($2)) AS locked, pg_backend_pid() AS pid`,
);

export const releaseMaintenanceLock = statement(
  'release-maintenance-lock',
  () => `SELECT pg_advisory_unlock($1::int, hashtext($2)) AS released`,
);
