'use strict';
// The two claim statements timed from the client: the walk (`claim-available`, every case) and the one-level claim
// (`claim-one-level`, one pair at one priority level, which a worker of one job type takes). One table of `JOBS` jobs
// of one type and level, claimed in batches of `BATCH` by each form in turn and completed at once, so that both meet
// the same table and the same minute. Prints, per form, the 25th percentile and the median of a claim's time divided
// by the jobs it claimed.
//   node bench/claim-forms.js            (JOBS=100000 BATCH=250 by default; BATCH=6 is a steady load's claim)
const path = require('node:path');
const { Client } = require('pg');
const db = require('./db');
const ours = require('./systems/ours');

const JOBS = Number(process.env.JOBS || 100_000);
const BATCH = Number(process.env.BATCH || 250);

async function main() {
  const { name, url } = await db.createDatabase('ours');
  const adapter = ours[0].create();
  const client = new Client({ connectionString: url });
  try {
    await adapter.setup(url);
    await adapter.insertBulk(JOBS);
    const src = path.join(__dirname, '..', 'libs', 'job-queue', 'src', 'sql');
    const { claimAvailable, claimPairs } = require(path.join(src, 'claim-available.sql'));
    const { claimOneLevel } = require(path.join(src, 'claim-one-level.sql'));
    const { completeMany } = require(path.join(src, 'complete-many.sql'));
    const tables = adapter.repository.tables;
    const forms = [
      { name: 'one level', statement: claimOneLevel(tables) },
      { name: 'walk', statement: claimAvailable(tables) },
    ];
    const complete = completeMany(tables);
    await client.connect();
    await client.query('VACUUM ANALYZE');
    const [queues, types] = claimPairs(['default'], ['bench_noop']);
    const perJob = forms.map(() => []);
    for (let done = 0, turn = 0; done < JOBS; turn++) {
      const form = forms[turn % forms.length];
      const started = process.hrtime.bigint();
      const { rows } = await client.query({ ...form.statement, values: [queues, types, BATCH, 'forms', null, null] });
      const micros = Number(process.hrtime.bigint() - started) / 1e3;
      if (rows.length === 0 || rows[0].id === null)
        throw new Error(`${form.name} claimed nothing, ${JOBS - done} left`);
      // Full claims only: the last, short one would count its fixed cost over fewer jobs.
      if (rows.length === BATCH) perJob[turn % forms.length].push(micros / rows.length);
      await client.query({ ...complete, values: [rows.map((r) => r.id), rows.map((r) => r.lock_token)] });
      done += rows.length;
    }
    console.log(`µs a job, ${JOBS} jobs in claims of ${BATCH}, forms alternated:`);
    forms.forEach((form, i) => {
      const sorted = perJob[i].sort((a, b) => a - b);
      const at = (q) => sorted[Math.floor(sorted.length * q)].toFixed(2);
      console.log(`${form.name.padEnd(10)} p25 ${at(0.25)}  median ${at(0.5)}  (${sorted.length} claims)`);
    });
  } finally {
    await client.end().catch(() => undefined);
    await adapter.teardown();
    await db.dropDatabase(name);
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
