'use strict';
// idle-transaction: a bad day. One worker at `concurrency` under a steady offered load (`producers` loops paced to
// `rate` jobs/s in total, one enqueue at a time, each job carrying its enqueue time); after `beforeMs` another
// session opens a REPEATABLE READ transaction, takes a snapshot and sits idle for `holdMs` (a forgotten psql, a long
// report, a stuck migration), then rolls back; the load goes on for `afterMs`. Every `tickMs` a row of the
// timeline: jobs started and enqueued in the tick, pickup latency (enqueue call → handler start) of the jobs
// started in it, the backlog (unfinished jobs), and the dead tuples and total size of the system's tables
// (pg_stat_user_tables, its schema). The result: throughput, latency and backlog per phase, and the timeline.
const { Client } = require('pg');
const { sleep, performance } = require('./util');
const { percentile, max } = require('../stats');

async function schemaStats(client, schema) {
  const { rows } = await client.query(
    `SELECT coalesce(sum(n_dead_tup), 0)::float8 AS dead, coalesce(sum(pg_total_relation_size(relid)), 0)::float8 AS bytes
     FROM pg_stat_user_tables WHERE schemaname = $1`,
    [schema],
  );
  return { deadTuples: rows[0].dead, tableBytes: rows[0].bytes };
}

module.exports = async function idleTransaction(adapter, params, { dbUrl, deadline }) {
  const { rate, producers, beforeMs, holdMs, afterMs, tickMs, concurrency } = params;
  await adapter.setup(dbUrl, { concurrency, scenario: 'idle-transaction' });
  let started = [];
  const onJob = (payload) => {
    const at = performance.now();
    if (payload && typeof payload.t === 'number') started.push(at - payload.t);
  };
  await adapter.startWorker({ concurrency, onJob });
  await sleep(200);

  const stats = new Client({ connectionString: dbUrl });
  const holder = new Client({ connectionString: dbUrl });
  await stats.connect();
  await holder.connect();
  try {
    const t0 = performance.now();
    const end = t0 + beforeMs + holdMs + afterMs;
    if (end > deadline)
      throw new Error(`the scenario needs ${Math.round((end - t0) / 1000)} s, more than its deadline`);
    let enqueued = 0;
    const gapMs = (1000 * producers) / rate;
    const producer = async (i) => {
      for (let k = 0; ; k += 1) {
        const slot = t0 + (k + i / producers) * gapMs;
        // A producer behind its schedule (slow inserts) catches up as fast as it can, but never past the end.
        if (slot >= end || performance.now() >= end) return;
        const wait = slot - performance.now();
        if (wait > 0) await sleep(wait);
        await adapter.enqueue({ t: performance.now() });
        enqueued += 1;
      }
    };
    const load = Promise.all(Array.from({ length: producers }, (_, i) => producer(i)));

    const hold = (async () => {
      await sleep(beforeMs);
      await holder.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
      await holder.query('SELECT count(*) FROM pg_class'); // takes the snapshot that holds the horizon
      await sleep(holdMs);
      await holder.query('ROLLBACK');
    })();

    const timeline = [];
    let enqueuedAtTick = 0;
    for (let tick = 1; t0 + tick * tickMs <= end + 1; tick += 1) {
      const wait = t0 + tick * tickMs - performance.now();
      if (wait > 0) await sleep(wait);
      const latencies = started;
      started = [];
      const at = tick * tickMs;
      const phase = at <= beforeMs ? 'before' : at <= beforeMs + holdMs ? 'held' : 'after';
      const row = {
        t: Math.round(at / 1000),
        phase,
        started: latencies.length,
        enqueued: enqueued - enqueuedAtTick,
        backlog: await adapter.countUnfinished(),
        ...(await schemaStats(stats, adapter.schema)),
        p50: percentile(latencies, 50),
        p95: percentile(latencies, 95),
        max: max(latencies),
      };
      enqueuedAtTick = enqueued;
      timeline.push(row);
      process.stderr.write(`${JSON.stringify(row)}\n`);
    }
    await Promise.all([load, hold]);
    await adapter.stop();

    const phase = (name) => {
      const rows = timeline.filter((r) => r.phase === name);
      const seconds = (rows.length * tickMs) / 1000;
      return {
        jobsPerSec: rows.reduce((s, r) => s + r.started, 0) / seconds,
        p95: max(rows.map((r) => r.p95)),
        backlogMax: max(rows.map((r) => r.backlog)),
        deadTuplesEnd: rows.length ? rows[rows.length - 1].deadTuples : null,
      };
    };
    const before = phase('before');
    const held = phase('held');
    const after = phase('after');
    return {
      jobsPerSecBefore: before.jobsPerSec,
      jobsPerSecHeld: held.jobsPerSec,
      jobsPerSecAfter: after.jobsPerSec,
      p95Before: before.p95,
      p95Held: held.p95,
      p95After: after.p95,
      backlogMaxHeld: held.backlogMax,
      backlogEnd: timeline[timeline.length - 1].backlog,
      deadTuplesBefore: before.deadTuplesEnd,
      deadTuplesHeld: held.deadTuplesEnd,
      deadTuplesEnd: after.deadTuplesEnd,
      enqueuedPerSec: enqueued / ((beforeMs + holdMs + afterMs) / 1000),
      timeline,
    };
  } finally {
    await holder.end().catch(() => undefined);
    await stats.end().catch(() => undefined);
  }
};
