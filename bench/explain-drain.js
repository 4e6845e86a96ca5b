'use strict';
// What one job's claim and completion cost PostgreSQL, statement by statement, free of other databases' writes:
// `EXPLAIN (ANALYZE, BUFFERS, WAL)` of our claim and completion statements (their real text, from the library)
// over a drain of `JOBS` jobs in claims of `BATCH`, summed and divided by the jobs. The lsn-diff numbers of the
// `instances` scenario count the whole server's WAL; these count only these statements (not the commit records).
// The claim is the one a worker of one job type runs, the one-level claim; `CLAIM=walk` measures the walk instead.
//   node bench/explain-drain.js            (JOBS=20000 BATCH=250 CLAIM=one-level by default)
const { withOursJobs } = require('./ours-jobs');

const JOBS = Number(process.env.JOBS || 20_000);
const BATCH = Number(process.env.BATCH || 250);
const CLAIM = process.env.CLAIM || 'one-level';

async function main() {
  await withOursJobs(JOBS, async ({ client, tables, sql, pair: [queues, types] }) => {
    const claims = {
      walk: sql('claim-available.sql').claimAvailable,
      'one-level': sql('claim-one-level.sql').claimOneLevel,
    };
    const claim = claims[CLAIM](tables).text;
    const complete = sql('complete-many.sql').completeMany(tables).text;
    const total = { claim: zero(), complete: zero() };
    let done = 0;
    while (done < JOBS) {
      await client.query('BEGIN');
      add(total.claim, await explain(client, claim, [queues, types, BATCH, 'explain', null, null]));
      const { rows } = await client.query(
        `SELECT id, lock_token FROM ${tables.jobs} WHERE status = 'processing' AND locked_by = 'explain'`,
      );
      // The completion's leases as a worker holds them: id and token.
      const leases = [rows.map((r) => r.id), rows.map((r) => r.lock_token)];
      add(total.complete, await explain(client, complete, leases));
      await client.query('COMMIT');
      if (rows.length === 0) throw new Error(`claimed nothing with ${JOBS - done} jobs left`);
      done += rows.length;
    }
    const per = (t) => Object.fromEntries(Object.entries(t).map(([k, v]) => [k, +(v / JOBS).toFixed(2)]));
    console.log(`per job, ${JOBS} jobs in claims of ${BATCH} (${CLAIM}):`);
    console.log('claim    ', JSON.stringify(per(total.claim)));
    console.log('complete ', JSON.stringify(per(total.complete)));
  });
}

const zero = () => ({ walBytes: 0, walRecords: 0, walFpi: 0, sharedHit: 0, sharedRead: 0, sharedDirtied: 0, ms: 0 });

async function explain(client, text, values) {
  const { rows } = await client.query(`EXPLAIN (ANALYZE, BUFFERS, WAL, FORMAT JSON) ${text}`, values);
  const plan = rows[0]['QUERY PLAN'][0];
  const top = plan.Plan;
  return {
    walBytes: top['WAL Bytes'],
    walRecords: top['WAL Records'],
    walFpi: top['WAL FPI'],
    sharedHit: top['Shared Hit Blocks'],
    sharedRead: top['Shared Read Blocks'],
    sharedDirtied: top['Shared Dirtied Blocks'],
    ms: plan['Execution Time'],
  };
}

function add(sum, x) {
  for (const k of Object.keys(sum)) sum[k] += x[k] ?? 0;
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
