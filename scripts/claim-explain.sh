#!/usr/bin/env bash
# EXPLAIN (ANALYZE, BUFFERS) of the claim statement of a revision (default: the work tree), custom and generic plan,
# in three situations: statistics taken on the empty table, then 1M pending jobs; statistics taken on 1,000 rows of
# another type all due tomorrow, then 1M pending jobs (1,000 times too small, and wrong about run-at and type);
# 1M pending jobs of another type ahead of 1,000 of the claimed type, with fresh statistics. Autovacuum is off for the table, so nothing
# corrects the statistics. Each EXPLAIN runs inside BEGIN … ROLLBACK. A scratch database, dropped at the end.
#   scripts/claim-explain.sh            the work tree
#   scripts/claim-explain.sh 4ef9fd7    another revision (its migrations and its claim statement)
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
REV=${1:-}
SRC=libs/job-queue/src
if [ -n "$REV" ]; then
  SRC=.claim-explain-$REV/libs/job-queue/src
  rm -rf ".claim-explain-$REV" && mkdir -p ".claim-explain-$REV"  # inside the repository, where ts-node compiles and node_modules resolve
  git archive "$REV" libs/job-queue/src | tar -x -C ".claim-explain-$REV"
fi
DB=jq_claim_explain
PSQL="psql -h 127.0.0.1 -U postgres -X -v ON_ERROR_STOP=1"
$PSQL -d postgres -q -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
export DATABASE_URL=postgres://postgres@127.0.0.1:5432/$DB
npx ts-node --swc -e "
import { DataSource } from 'typeorm';
import { runJobQueueMigrations } from './$SRC/migrations/job-queue.migrator';
const ds = new DataSource({ type: 'postgres', url: process.env.DATABASE_URL });
ds.initialize().then(() => runJobQueueMigrations(ds, 'job_queue')).then(() => ds.destroy());"
CLAIM=$(npx ts-node --swc -e "
import { claimAvailable } from './$SRC/sql/claim-available.sql';
import { queueTables } from './$SRC/sql/identifier';
process.stdout.write(claimAvailable(queueTables('job_queue')).text);")
# The claim of this revision takes 4 parameters, or 6 with its cursor (none here: a walk from the head).
if grep -q '\$6' <<<"$CLAIM"; then TYPES='text[], text[], int, text, int, float8'; EXTRA=', NULL, NULL'; else TYPES='text[], text[], int, text'; EXTRA=''; fi

explain() {
  $PSQL -d $DB <<SQL
SELECT type, count(*), min(next_retry_at) <= now() AS due FROM job_queue.jobs GROUP BY type ORDER BY type;
SELECT reltuples::bigint AS planner_rows FROM pg_class WHERE oid = 'job_queue.jobs'::regclass;
PREPARE claim($TYPES) AS $CLAIM;
BEGIN;
\echo '--- custom plan'
EXPLAIN (ANALYZE, BUFFERS) EXECUTE claim('{default}', '{email.send}', 10, 'explain'$EXTRA);
ROLLBACK;
BEGIN;
\echo '--- generic plan (what a named statement reused on a pooled connection may get)'
SET LOCAL plan_cache_mode = force_generic_plan;
EXPLAIN (ANALYZE, BUFFERS) EXECUTE claim('{default}', '{email.send}', 10, 'explain'$EXTRA);
ROLLBACK;
SQL
}
fill_claimed() { # $1 rows of email.send, due over the last hour, in an order unrelated to their place in the table
  $PSQL -d $DB -q -c "INSERT INTO job_queue.jobs (type, payload, status, max_attempts, next_retry_at)
    SELECT 'email.send', jsonb_build_object('n', g), 'pending', 5, now() - random() * interval '1 hour'
    FROM generate_series(1, $1) g"
}
$PSQL -d $DB -q -c 'ALTER TABLE job_queue.jobs SET (autovacuum_enabled = false)'

echo "=================== statistics taken on the empty table, then 1,000,000 pending jobs"
# First, on the new table: an ANALYZE of an empty table leaves earlier statistics in place, so this must come first.
$PSQL -d $DB -q -c 'ANALYZE job_queue.jobs'
fill_claimed 1000000
explain

echo "=================== statistics taken on 1,000 rows of another type due tomorrow, then 1,000,000 pending jobs"
$PSQL -d $DB -q -c 'TRUNCATE job_queue.jobs' -c "INSERT INTO job_queue.jobs (type, payload, status, max_attempts, next_retry_at)
  SELECT 'other.type', '{}', 'pending', 5, now() + interval '1 day' FROM generate_series(1, 1000)" -c 'ANALYZE job_queue.jobs'
fill_claimed 1000000
explain

echo "=================== 1,000,000 jobs of another type ahead, 1,000 of the claimed type, fresh statistics"
$PSQL -d $DB -q -c 'TRUNCATE job_queue.jobs' -c "INSERT INTO job_queue.jobs (type, payload, status, max_attempts, next_retry_at, created_at)
  SELECT 'other.type', '{}', 'pending', 5, now() - interval '2 hours', now() - interval '2 hours'
  FROM generate_series(1, 1000000)"
fill_claimed 1000
$PSQL -d $DB -q -c 'VACUUM ANALYZE job_queue.jobs'
explain

$PSQL -d postgres -q -c "DROP DATABASE $DB"
[ -z "$REV" ] || rm -rf ".claim-explain-$REV"
