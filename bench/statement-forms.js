'use strict';
// Two forms of one statement timed from the client, alternated batch by batch on one table of `JOBS` jobs of one
// type and level, so that both meet the same table and the same minute. Prints, per form, the 25th percentile and
// the median of a batch's time divided by its jobs.
//   FORMS=claim       the walk (`claim-available`, every case) against the one-level claim (`claim-one-level`, one
//                     pair at one priority level: what a worker of one job type takes); each claim is completed at once
//   FORMS=completion  the completion (`complete-many`, by primary key) against the form it replaced, a DELETE at the
//                     ctid the claim returned, then by primary key for rows that moved
//   node bench/statement-forms.js     (FORMS=claim,completion JOBS=100000 BATCH=250; BATCH=6 is a steady load's claim)
const { withOursJobs } = require('./ours-jobs');

const FORMS = (process.env.FORMS || 'claim,completion').split(',');
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

/** Each comparison: its forms, and one batch (claim, complete) that returns the µs the timed form took a job. */
const comparisons = {
  claim: ({ client, tables, sql, pair }) => {
    const walk = sql('claim-available.sql').claimAvailable(tables);
    const oneLevel = sql('claim-one-level.sql').claimOneLevel(tables);
    const complete = sql('complete-many.sql').completeMany(tables);
    return {
      forms: ['one level', 'walk'],
      async batch(form) {
        const started = process.hrtime.bigint();
        const claim = form === 'walk' ? walk : oneLevel;
        const { rows } = await client.query({ ...claim, values: [...pair, BATCH, 'forms', null, null] });
        const micros = Number(process.hrtime.bigint() - started) / 1e3;
        if (rows.length === 0 || rows[0].id === null) throw new Error(`${form} claimed nothing`);
        await client.query({ ...complete, values: [rows.map((r) => r.id), rows.map((r) => r.lock_token)] });
        return { jobs: rows.length, micros };
      },
    };
  },
  completion: ({ client, tables, sql, pair }) => {
    const claim = sql('claim-one-level.sql').claimOneLevel(tables);
    const byKey = sql('complete-many.sql').completeMany(tables);
    const byCtid = { name: 'complete-ctid-first', text: ctidFirst(tables.jobs) };
    return {
      forms: ['primary key (the library)', 'ctid first (before)'],
      async batch(form) {
        const { rows } = await client.query({ ...claim, values: [...pair, BATCH, 'forms', null, null] });
        if (rows.length === 0 || rows[0].id === null) throw new Error('claimed nothing');
        const values = [rows.map((r) => r.id), rows.map((r) => r.lock_token)];
        const ctids = form !== 'ctid first (before)' ? null : await ctidsOf(client, tables, values[0]);
        const started = process.hrtime.bigint();
        const { rowCount } = await client.query({
          ...(ctids ? byCtid : byKey),
          values: ctids ? [...values, ctids] : values,
        });
        const micros = Number(process.hrtime.bigint() - started) / 1e3;
        if (rowCount !== rows.length) throw new Error(`${form} completed ${rowCount} of ${rows.length}`);
        return { jobs: rows.length, micros };
      },
    };
  },
};

/** Where the rows are, in the order of `ids`: what the claim returned to the ctid form. */
async function ctidsOf(client, tables, ids) {
  const { rows } = await client.query(`SELECT id, ctid::text AS ctid FROM ${tables.jobs} WHERE id = ANY ($1)`, [ids]);
  const at = new Map(rows.map((r) => [r.id, r.ctid]));
  return ids.map((id) => at.get(id));
}

async function compare(kind) {
  await withOursJobs(JOBS, async (table) => {
    const { forms, batch } = comparisons[kind](table);
    const perJob = forms.map(() => []);
    for (let done = 0, turn = 0; done < JOBS; turn++) {
      const { jobs, micros } = await batch(forms[turn % forms.length]);
      // Full batches only: the last, short one would count its fixed cost over fewer jobs.
      if (jobs === BATCH) perJob[turn % forms.length].push(micros / jobs);
      done += jobs;
    }
    console.log(`${kind}: µs a job, ${JOBS} jobs in batches of ${BATCH}, forms alternated:`);
    forms.forEach((form, i) => {
      const sorted = perJob[i].sort((a, b) => a - b);
      const at = (q) => sorted[Math.floor(sorted.length * q)].toFixed(2);
      console.log(`  ${form.padEnd(26)} p25 ${at(0.25)}  median ${at(0.5)}  (${sorted.length} batches)`);
    });
  });
}

(async () => {
  for (const kind of FORMS) await compare(kind);
})().catch((error) => {
  console.error(error);
  process.exit(1);
});
