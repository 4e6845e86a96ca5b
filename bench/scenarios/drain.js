'use strict';
// drain: `jobs` no-op jobs inserted in bulk first, then one worker at `concurrency`; jobs/s from the call that
// starts the worker until every handler ran and the database holds no unfinished job.
// The bulk insert is followed by VACUUM ANALYZE, for every system alike: as autovacuum would have done on a
// long-lived queue. (Without it pg-boss 10 plans its fetch and completion for an empty table and drains 20k jobs
// at ~1.5k jobs/s instead of ~14k; graphile-worker hardly changes.)
const { makeCounter, waitUntilDrained, performance } = require('./util');
const { execOn } = require('../db');

module.exports = async function drain(adapter, { jobs, concurrency }, { dbUrl, deadline }) {
  await adapter.setup(dbUrl, { concurrency, scenario: 'drain' });
  const t = performance.now();
  await adapter.insertMany(jobs);
  const insertMs = performance.now() - t;
  await execOn(dbUrl, 'VACUUM ANALYZE');
  const pending = await adapter.countUnfinished();
  if (pending !== jobs) throw new Error(`inserted ${jobs} jobs but the database holds ${pending}`);

  const counter = makeCounter();
  // The worker's CPU time per job (this process: the worker, and the producer idle meanwhile): on a loaded
  // machine, wall-clock jobs/s swings with the neighbours, CPU per job much less.
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await adapter.startWorker({ concurrency, onJob: counter.onJob });
  const startedMs = performance.now() - t0;
  await waitUntilDrained(adapter, counter, jobs, deadline);
  const elapsedMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  await adapter.stop();
  return {
    jobsPerSec: jobs / (elapsedMs / 1000),
    elapsedMs,
    workerStartMs: startedMs,
    lastHandlerMs: counter.lastAt - t0,
    handled: counter.count,
    insertMs,
    cpuUsPerJob: (cpu.user + cpu.system) / jobs,
  };
};
