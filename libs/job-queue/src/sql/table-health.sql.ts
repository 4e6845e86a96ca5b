import { statement } from './statement';
import { VACUUMED_TABLES, vacuumedTable } from './vacuum-table.sql';

/**
 * What the vacuum and the sampled gauges need to know about the queue's tables (`VACUUMED_TABLES`), from the
 * statistics views and the catalog only (no row of any table is read, so its cost does not grow with the backlog):
 * - `dead_tuples`: `pg_stat_user_tables.n_dead_tup`, as the server's statistics last saw it (backends report it
 *   at most about once a second, idle ones within ten);
 * - `pages`: the table's current size in pages (what the sampler scales its sample by);
 * - `claim_reads` / `claim_scans`: index entries read and scans started on the `jobs` indexes over pending rows
 *   (the claim index, whatever its columns: every partial index whose predicate names `pending`); their ratio over
 *   an interval is the entries a claim walks, dead ones included, since a long transaction keeps them alive;
 * - `horizon_since_ms`: the start of the oldest transaction of this database that holds back the xmin horizon (a
 *   snapshot or an xid), other than this session; or of the oldest prepared transaction. Sessions of other roles
 *   are visible only with `pg_read_all_stats` (or `pg_monitor`); without it they are not seen here;
 * - `now_ms`: the database clock.
 * `'…'::regclass` resolves the names without locking; `pg_relation_size` takes the lightest lock there is.
 */
export const tableHealth = statement(
  'table-health',
  (t) => `
WITH horizon AS (
  SELECT min(since) AS since FROM (
    SELECT xact_start AS since FROM pg_stat_activity
    WHERE datname = current_database() AND pid <> pg_backend_pid()
      AND (backend_xmin IS NOT NULL OR backend_xid IS NOT NULL)
    UNION ALL
    SELECT prepared FROM pg_prepared_xacts WHERE database = current_database()
  ) h
), claim AS (
  SELECT coalesce(sum(s.idx_tup_read), 0)::float8 AS reads, coalesce(sum(s.idx_scan), 0)::float8 AS scans
  FROM pg_stat_user_indexes s JOIN pg_index i ON i.indexrelid = s.indexrelid
  WHERE s.relid = '${t.jobs}'::regclass AND pg_get_expr(i.indpred, i.indrelid) LIKE '%pending%'
)
SELECT s.relname AS table, s.n_dead_tup::float8 AS dead_tuples,
       ceil(pg_relation_size(s.relid) / current_setting('block_size')::float8) AS pages,
       claim.reads AS claim_reads, claim.scans AS claim_scans,
       (extract(epoch FROM horizon.since) * 1000)::float8 AS horizon_since_ms,
       (extract(epoch FROM now()) * 1000)::float8 AS now_ms
FROM pg_stat_user_tables s, claim, horizon
WHERE s.relid IN (${VACUUMED_TABLES.map((name) => `'${vacuumedTable(t, name)}'::regclass`).join(', ')})`,
);
