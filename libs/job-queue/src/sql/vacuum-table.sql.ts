import type { QueueTables } from './identifier';

export type QueueTableName = 'jobs' | 'dead_jobs';

/**
 * VACUUM of one of the queue's tables, with ANALYZE so that a server without autovacuum (or with it behind) still has
 * statistics that match the table. SKIP_LOCKED: when another session holds a conflicting lock (a migration, a
 * manual VACUUM, autovacuum itself), the statement returns at once with a warning instead of queueing behind it.
 * It runs outside any transaction and cannot be a prepared statement: the repository sends the text as is.
 */
export function vacuumTable(t: QueueTables, table: QueueTableName): string {
  return `VACUUM (SKIP_LOCKED, ANALYZE) ${table === 'jobs' ? t.jobs : t.deadJobs}`;
}
