'use strict';
// bulk-enqueue: `jobs` no-op jobs enqueued through the system's bulk API, no worker running; jobs/s from the first
// call until the last one resolved (every job committed), and what it cost the server per job.
// Ours: one `enqueueMany` of all of them (`insertBulk`); peers: their adapter's `insertMany` (graphile-worker's
// `addJobs`, pg-boss's `insert`, in calls of 10,000).
const { performance } = require('./util');
const counters = require('./server-counters');

module.exports = async function bulkEnqueue(adapter, { jobs }, { dbUrl }) {
  await adapter.setup(dbUrl, { concurrency: 1, scenario: 'bulk-enqueue' });
  const before = await counters.read(dbUrl);
  const t0 = performance.now();
  if (adapter.insertBulk) await adapter.insertBulk(jobs);
  else await adapter.insertMany(jobs);
  const elapsedMs = performance.now() - t0;
  const after = await counters.read(dbUrl);
  const pending = await adapter.countUnfinished();
  if (pending !== jobs) throw new Error(`enqueued ${jobs} jobs but the database holds ${pending}`);
  return { jobsPerSec: jobs / (elapsedMs / 1000), elapsedMs, ...(await counters.perJob(dbUrl, before, after, jobs)) };
};
