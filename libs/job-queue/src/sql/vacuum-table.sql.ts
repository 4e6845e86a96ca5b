import type { QueueTables } from './identifier';

/**
 * The queue's tables that its own writes fill with dead row versions, and that the vacuumer therefore watches:
 * `jobs` and `dead_jobs` (every job), `finished_jobs` (pruned with retention on), `rate_windows` and
 * `limit_cursors` (rewritten by every limited claim), `schedules` (one update per fired slot) and `workers` (one
 * per heartbeat). The small ones matter as much as the big ones on a server without autovacuum: a row rewritten
 * thousands of times a minute leaves that many dead versions for every read of it to step over.
 */
export const VACUUMED_TABLES = [
  'jobs',
  'dead_jobs',
  'finished_jobs',
  'rate_windows',
  'limit_cursors',
  'schedules',
  'workers',
] as const;

export type QueueTableName = (typeof VACUUMED_TABLES)[number];

/** The quoted, qualified name of one of `VACUUMED_TABLES` (fixed names, so nothing from outside enters the text). */
export function vacuumedTable(t: QueueTables, table: QueueTableName): string {
  return `${t.schema}."${table}"`;
}

/**
 * VACUUM of one of the queue's tables, with ANALYZE so that a server without autovacuum (or with it behind) still has
 * statistics that match the table. SKIP_LOCKED: when another session holds a conflicting lock (a migration, a
 * manual VACUUM, autovacuum itself), the statement returns at once with a warning instead of queueing behind it.
 * It runs outside any transaction and cannot be a prepared statement: the repository sends the text as is.
 */
export function vacuumTable(t: QueueTables, table: QueueTableName): string {
  return `VACUUM (SKIP_LOCKED, ANALYZE) ${vacuumedTable(t, table)}`;
}
