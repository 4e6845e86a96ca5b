'use strict';
// The completion statement against the form it replaced (a DELETE at the ctid the claim returned, then by primary key
// for rows that moved), timed from the client: one table of `JOBS` jobs claimed in batches of `BATCH`, each batch
// completed by the next form in turn, so that both meet the same table and the same minute. Prints, per form, the
// 25th percentile and the median of a batch's time divided by its jobs.
//   node bench/completion-forms.js            (JOBS=100000 BATCH=250 by default)
const path = require('node:path');
const { Client } = require('pg');
const db = require('./db');
const ours = require('./systems/ours');

const JOBS = Number(process.env.JOBS || 100_000);
const BATCH = Number(process.env.BATCH || 250);

/** The completion by ctid first, as the library had it before: what the primary-key form is measured against. */
const ctidFirst = (jobs) => `WITH by_ctid AS (
  DELETE FROM ${jobs} j USING unnest((SELECT $1::uuid[]), (SELECT $2::uuid[]), (SELECT $3::tid[])) AS f(id, token, ctid)
  WHERE j.ctid = f.ctid AND j.id = f.id AND j.lock_token = f.token RETURNING j.id
), by_id AS (
  DELETE FROM ${jobs} j USING unnest((SELECT $1::uuid[]), (SELECT $2::uuid[]), (SELECT $3::tid[])) AS f(id, token, ctid)
  WHERE j.id = f.id AND j.lock_token = f.token AND f.id <> ALL (ARRAY(SELECT id FROM by_ctid)) RETURNING j.id
)
SELECT id FROM by_ctid UNION ALL SELECT id FROM by_id`;

async function main() {
  const { name, url } = await db.createDatabase('ours');
  const adapter = ours[0].create();
  const client = new Client({ connectionString: url });
  try {
    await adapter.setup(url);
    await adapter.insertBulk(JOBS);
    const src = path.join(__dirname, '..', 'libs', 'job-queue', 'src', 'sql');
    const { claimAvailable, claimPairs } = require(path.join(src, 'claim-available.sql'));
    const { completeMany } = require(path.join(src, 'complete-many.sql'));
    const tables = adapter.repository.tables;
    const claim = { name: 'claim', text: claimAvailable(tables).text };
    const forms = [
      { name: 'primary key (the library)', text: completeMany(tables).text, ctids: false },
      { name: 'ctid first (before)', text: ctidFirst(tables.jobs), ctids: true },
    ];
    await client.connect();
    await client.query('VACUUM ANALYZE');
    const [queues, types] = claimPairs(['default'], ['bench_noop']);
    const perJob = forms.map(() => []);
    for (let done = 0, turn = 0; done < JOBS; turn++) {
      const { rows } = await client.query({ ...claim, values: [queues, types, BATCH, 'forms', null, null] });
      if (rows.length === 0) throw new Error(`claimed nothing with ${JOBS - done} jobs left`);
      const form = forms[turn % forms.length];
      const values = [rows.map((r) => r.id), rows.map((r) => r.lock_token)];
      if (form.ctids) {
        const where = await client.query(`SELECT id, ctid::text AS ctid FROM ${tables.jobs} WHERE id = ANY ($1)`, [
          values[0],
        ]);
        const ctid = new Map(where.rows.map((r) => [r.id, r.ctid]));
        values.push(values[0].map((id) => ctid.get(id)));
      }
      const started = process.hrtime.bigint();
      const { rowCount } = await client.query({ name: `complete-${turn % forms.length}`, text: form.text, values });
      perJob[turn % forms.length].push(Number(process.hrtime.bigint() - started) / 1e3 / rows.length);
      if (rowCount !== rows.length) throw new Error(`${form.name} completed ${rowCount} of ${rows.length}`);
      done += rows.length;
    }
    console.log(`µs a job, ${JOBS} jobs in batches of ${BATCH}, forms alternated:`);
    forms.forEach((form, i) => {
      const sorted = perJob[i].sort((a, b) => a - b);
      const at = (q) => sorted[Math.floor(sorted.length * q)].toFixed(2);
      console.log(`${form.name.padEnd(28)} p25 ${at(0.25)}  median ${at(0.5)}  (${sorted.length} batches)`);
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
