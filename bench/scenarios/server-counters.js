'use strict';
// What a stretch of work cost the server: WAL bytes (pg_current_wal_lsn() before and after: the whole cluster's WAL,
// so other databases' writes on the same server count too; run on a quiet server) and the run database's row
// counters from pg_stat_database (its own rows only). A backend reports its counters when its transaction ends,
// at most once a second, and when it exits: read `after` once the system's connections are closed.
const { Client } = require('pg');

async function read(dbUrl) {
  const client = new Client({ connectionString: dbUrl });
  await client.connect();
  try {
    const { rows } = await client.query(
      `SELECT pg_current_wal_lsn()::text AS lsn, tup_inserted::bigint AS ins, tup_updated::bigint AS upd,
              tup_deleted::bigint AS del, (blks_hit + blks_read)::bigint AS blks
       FROM pg_stat_database WHERE datname = current_database()`,
    );
    return rows[0];
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Per-job cost between two `read`s: WAL bytes, rows inserted + updated + deleted, buffers touched. */
async function perJob(dbUrl, before, after, jobs) {
  const client = new Client({ connectionString: dbUrl });
  await client.connect();
  try {
    const { rows } = await client.query('SELECT pg_wal_lsn_diff($1::pg_lsn, $2::pg_lsn)::float8 AS wal', [
      after.lsn,
      before.lsn,
    ]);
    const delta = (k) => Number(after[k]) - Number(before[k]);
    return {
      walBytesPerJob: rows[0].wal / jobs,
      rowsPerJob: (delta('ins') + delta('upd') + delta('del')) / jobs,
      buffersPerJob: delta('blks') / jobs,
    };
  } finally {
    await client.end().catch(() => undefined);
  }
}

module.exports = { read, perJob };
