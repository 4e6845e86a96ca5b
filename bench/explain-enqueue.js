'use strict';
// What enqueueing costs PostgreSQL per job with random ids and with time-ordered ids (UUIDv7), after a CHECKPOINT:
// `EXPLAIN (ANALYZE, BUFFERS, WAL)` of the library's plain insert statement (`insert-jobs-plain`, what `enqueue`
// outside a transaction sends) over `JOBS` jobs in statements of `BATCH` rows, into a table that already holds
// `BACKLOG` jobs with ids of the same kind, summed and divided by the jobs. The first change to a page after a
// checkpoint logs its full image (WAL FPI): a random id lands on a random leaf of the primary key, a time-ordered one
// on its right edge. CHECKPOINT is server-wide (it flushes every database's dirty pages): run on a quiet server.
//   node bench/explain-enqueue.js          (JOBS=20000 BATCH=10 BACKLOG=200000 by default)
const path = require('node:path');
const { randomUUID } = require('node:crypto');
const { Client } = require('pg');
const db = require('./db');
const ours = require('./systems/ours');

const JOBS = Number(process.env.JOBS || 20_000);
const BATCH = Number(process.env.BATCH || 10);
const BACKLOG = Number(process.env.BACKLOG || 200_000);

async function run(kind, nextId) {
  const { name, url } = await db.createDatabase('ours');
  const adapter = ours[0].create();
  const client = new Client({ connectionString: url });
  try {
    await adapter.setup(url);
    const src = path.join(__dirname, '..', 'libs', 'job-queue', 'src', 'sql');
    const { insertJobsPlain } = require(path.join(src, 'insert-jobs-plain.sql'));
    const tables = adapter.repository.tables;
    const insert = insertJobsPlain(tables).text;
    await client.connect();
    const rows = (n) => {
      const ids = Array.from({ length: n }, nextId);
      const column = (v) => ids.map(() => v);
      return [
        ids,
        column('bench_noop'),
        column('default'),
        column('{}'),
        column(0),
        column(3),
        column(null),
        column(0),
        column(null),
        column(null),
      ];
    };
    for (let done = 0; done < BACKLOG; done += 10_000) await client.query(insert, rows(10_000));
    await client.query('VACUUM ANALYZE');
    await client.query('CHECKPOINT');
    const total = { walBytes: 0, walRecords: 0, walFpi: 0, sharedHit: 0, sharedRead: 0, sharedDirtied: 0 };
    for (let done = 0; done < JOBS; done += BATCH) {
      const { rows: plan } = await client.query(`EXPLAIN (ANALYZE, BUFFERS, WAL, FORMAT JSON) ${insert}`, rows(BATCH));
      const top = plan[0]['QUERY PLAN'][0].Plan;
      total.walBytes += top['WAL Bytes'];
      total.walRecords += top['WAL Records'];
      total.walFpi += top['WAL FPI'];
      total.sharedHit += top['Shared Hit Blocks'];
      total.sharedRead += top['Shared Read Blocks'];
      total.sharedDirtied += top['Shared Dirtied Blocks'];
    }
    const per = Object.fromEntries(Object.entries(total).map(([k, v]) => [k, +(v / JOBS).toFixed(2)]));
    console.log(`${kind.padEnd(13)}`, JSON.stringify(per));
  } finally {
    await client.end().catch(() => undefined);
    await adapter.teardown();
    await db.dropDatabase(name);
  }
}

async function main() {
  console.log(`per job, ${JOBS} jobs in inserts of ${BATCH}, after a CHECKPOINT, over ${BACKLOG} jobs:`);
  await run('random', () => randomUUID());
  // The library's generator, loaded (through the ts-node hook the adapter registered) once the first run set up.
  const file = path.join(__dirname, '..', 'libs', 'job-queue', 'src', 'producer', 'time-ordered-id');
  const ordered = new (require(file).TimeOrderedIds)();
  await run('time-ordered', () => ordered.next());
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
