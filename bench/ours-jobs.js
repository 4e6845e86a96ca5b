'use strict';
// A fresh database with our schema and `jobs` no-op jobs of one type (bulk-inserted, then VACUUM ANALYZE), a client
// on it, our tables' names and the library's statement factories (`sql(name)` requires `libs/job-queue/src/sql/<name>`),
// for the scripts that time or explain our statements one by one. Drops the database afterwards.
const path = require('node:path');
const { Client } = require('pg');
const db = require('./db');
const ours = require('./systems/ours');

const SQL = path.join(__dirname, '..', 'libs', 'job-queue', 'src', 'sql');

async function withOursJobs(jobs, run) {
  const { name, url } = await db.createDatabase('ours');
  const adapter = ours[0].create();
  const client = new Client({ connectionString: url });
  try {
    await adapter.setup(url);
    await adapter.insertBulk(jobs);
    await client.connect();
    await client.query('VACUUM ANALYZE');
    const sql = (file) => require(path.join(SQL, file));
    const [queues, types] = sql('claim-available.sql').claimPairs(['default'], ['bench_noop']);
    return await run({ client, tables: adapter.repository.tables, sql, pair: [queues, types] });
  } finally {
    await client.end().catch(() => undefined);
    await adapter.teardown();
    await db.dropDatabase(name);
  }
}

module.exports = { withOursJobs };
