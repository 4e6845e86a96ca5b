import { isSafeIdentifier, type QueueTables } from './identifier';
import { statement } from './statement';
import { VACUUMED_TABLES, vacuumedTable } from './vacuum-table.sql';

/**
 * The B-tree indexes of one of the queue's tables ($1, its qualified name), with what a rebuild would make of each:
 * - `pages`: the index's size now, in pages;
 * - `expected_pages`: an upper bound of its size when freshly built: one entry per live row of the table
 *   (`reltuples`, which the VACUUM that precedes this read has just set; a partial index holds fewer), each entry the
 *   8-byte tuple header, its key columns at their average width (`pg_stats`, which that VACUUM's ANALYZE has just
 *   refreshed; 16 bytes for a column without statistics or an expression) aligned to 8, and a 4-byte line pointer,
 *   packed at the default fill factor of 90%; plus the metapage and the root;
 * - `valid`: false for an index left over by a `REINDEX … CONCURRENTLY` or `CREATE INDEX CONCURRENTLY` that failed
 *   (PostgreSQL still updates such an index on every write, but no query reads it).
 * Catalog and statistics only: no page of the index or the table is read.
 */
export const indexSizes = statement(
  'index-sizes',
  () => `
SELECT ic.relname AS index, i.indisvalid AS valid,
       ceil(pg_relation_size(i.indexrelid) / current_setting('block_size')::float8) AS pages,
       ceil(greatest(tc.reltuples, 0) * (12 + 8 * ceil(w.width / 8.0))
            / (current_setting('block_size')::float8 * 0.9 - 40)) + 2 AS expected_pages
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_class tc ON tc.oid = i.indrelid
JOIN pg_namespace n ON n.oid = tc.relnamespace
JOIN pg_am am ON am.oid = ic.relam AND am.amname = 'btree'
CROSS JOIN LATERAL (
  SELECT coalesce(sum(coalesce(s.avg_width, 16)), 16)::float8 AS width
  FROM unnest(i.indkey::int2[]) AS k(attnum)
  LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum AND k.attnum > 0
  LEFT JOIN pg_stats s ON s.schemaname = n.nspname AND s.tablename = tc.relname AND s.attname = a.attname
) w
WHERE i.indrelid = $1::regclass
ORDER BY ic.relname`,
);

/**
 * The invalid indexes of the queue's tables (`VACUUMED_TABLES`, the ones a rebuild may touch), with their table:
 * what a `REINDEX … CONCURRENTLY` or `CREATE INDEX CONCURRENTLY` that did not finish leaves behind. Read at each
 * vacuum check with rebuilds on, so that a leftover goes whether or not its table is marked for a rebuild (the
 * instance that marked it may have stopped). None while an index build of the database is under way on the table,
 * or on a table this role may not see (`pg_stat_progress_create_index` hides the table of another role's build):
 * a build under way has an invalid index of its own until it is done, and a DBA's `REINDEX` is not to be fought.
 * Catalog and backend status only: the `pg_index` rows of a handful of tables.
 */
export const invalidIndexes = statement(
  'invalid-indexes',
  (t) => `
SELECT tc.relname AS table, ic.relname AS index
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_class tc ON tc.oid = i.indrelid
WHERE NOT i.indisvalid
  AND i.indrelid IN (${VACUUMED_TABLES.map((name) => `'${vacuumedTable(t, name)}'::regclass`).join(', ')})
  AND NOT EXISTS (
    SELECT FROM pg_stat_progress_create_index p
    WHERE p.datname = current_database() AND p.pid <> pg_backend_pid()
      AND (p.relid = i.indrelid OR p.relid IS NULL)
  )
ORDER BY tc.relname, ic.relname`,
);

/**
 * The qualified, quoted name of an index of the queue's schema. Index names come from the catalog, not from
 * configuration: one that is not a plain lower-case identifier (none of the library's are) is refused, so that
 * quoting never changes its meaning.
 */
function queueIndex(t: QueueTables, name: string): string {
  if (!isSafeIdentifier(name)) throw new Error(`Unsafe index name ${JSON.stringify(name)}`);
  return `${t.schema}."${name}"`;
}

/**
 * Builds the index anew beside the old one and swaps them, without blocking the queue's reads and writes: only
 * other maintenance of the table (VACUUM, another rebuild, DDL) waits for it. It waits for the transactions that
 * could still see the old index's rows, so it runs only after the xmin horizon has moved on. Outside any transaction,
 * never prepared.
 */
export function reindexConcurrently(t: QueueTables, index: string): string {
  return `REINDEX INDEX CONCURRENTLY ${queueIndex(t, index)}`;
}

/** Drops an index (an invalid leftover of a failed rebuild) without blocking the table's reads and writes. */
export function dropIndexConcurrently(t: QueueTables, index: string): string {
  return `DROP INDEX CONCURRENTLY IF EXISTS ${queueIndex(t, index)}`;
}
