'use strict';
// What to run: the cases (a scenario with its parameters), the metrics the table shows, and the env filters.
//   BENCH_RUNS=1                    runs per (system, case), default 3
//   BENCH_ONLY=graphile,pgboss      systems or variants (graphile matches graphile-fast and graphile-default)
//   BENCH_SCENARIOS=drain,latency   scenarios (drain matches drain-c10 and drain-c32) or case ids
//   BENCH_DATABASE_URL=postgres://… server to create the run databases on (default 127.0.0.1:5432, user postgres)

const CASES = [
  { id: 'drain-c10', scenario: 'drain', timeoutMs: 180_000, params: { jobs: 20_000, concurrency: 10 } },
  { id: 'drain-c32', scenario: 'drain', timeoutMs: 180_000, params: { jobs: 20_000, concurrency: 32 } },
  { id: 'steady', scenario: 'steady', timeoutMs: 90_000, params: { producers: 4, durationMs: 5_000, concurrency: 10 } },
  {
    id: 'latency',
    scenario: 'latency',
    timeoutMs: 300_000,
    // The gap between samples is uniform over more than one poll period of the slowest poller (pg-boss, 500 ms), so
    // that a job arrives at any phase of a polling loop, as it would in real life.
    params: { samples: 200, warmup: 10, concurrency: 10, gapMs: [5, 505], sampleTimeoutMs: 5_000 },
  },
  {
    id: 'backlog',
    scenario: 'backlog',
    timeoutMs: 900_000,
    params: { sizes: [1_000, 1_000_000], claims: 30, claimLimit: 10, concurrency: 10, otherType: 1_000_000 },
  },
  {
    // Another session holds a snapshot idle for 40 s in the middle of a steady load (scenarios/idle-transaction.js).
    id: 'idle-transaction',
    scenario: 'idle-transaction',
    timeoutMs: 240_000,
    params: {
      rate: 500,
      producers: 8,
      beforeMs: 16_000,
      holdMs: 40_000,
      afterMs: 40_000,
      tickMs: 4_000,
      concurrency: 10,
    },
  },
  { id: 'bulk-enqueue', scenario: 'bulk-enqueue', timeoutMs: 180_000, params: { jobs: 100_000 } },
  // 1, 2 and 4 worker processes draining 100,000 jobs on one database (scenarios/instances.js).
  ...[1, 2, 4].map((instances) => ({
    id: `instances-${instances}`,
    scenario: 'instances',
    timeoutMs: 300_000,
    params: { jobs: 100_000, instances, concurrency: 10 },
  })),
];

// Rows of the table. `better` tells how to read the ratio ours/peer.
const METRICS = [
  { caseId: 'drain-c10', key: 'jobsPerSec', label: 'drain 20k, c=10 (jobs/s)', unit: 'int', better: 'higher' },
  { caseId: 'drain-c32', key: 'jobsPerSec', label: 'drain 20k, c=32 (jobs/s)', unit: 'int', better: 'higher' },
  { caseId: 'steady', key: 'jobsPerSec', label: 'steady 4 producers, c=10 (jobs/s)', unit: 'int', better: 'higher' },
  { caseId: 'latency', key: 'p50', label: 'latency p50 (ms)', unit: 'ms', better: 'lower' },
  { caseId: 'latency', key: 'p95', label: 'latency p95 (ms)', unit: 'ms', better: 'lower' },
  { caseId: 'latency', key: 'p99', label: 'latency p99 (ms)', unit: 'ms', better: 'lower' },
  { caseId: 'backlog', key: 'claimMs_1000', label: 'claim 10 of 1k pending (ms, p50)', unit: 'ms', better: 'lower' },
  { caseId: 'backlog', key: 'claimMs_1000000', label: 'claim 10 of 1M pending (ms, p50)', unit: 'ms', better: 'lower' },
  {
    caseId: 'backlog',
    key: 'claimMs_other_1000000',
    label: 'claim 10, 1M jobs of another type ahead (ms, p50)',
    unit: 'ms',
    better: 'lower',
  },
  {
    caseId: 'idle-transaction',
    key: 'jobsPerSecBefore',
    label: 'idle tx: jobs/s before',
    unit: 'int',
    better: 'higher',
  },
  {
    caseId: 'idle-transaction',
    key: 'jobsPerSecHeld',
    label: 'idle tx: jobs/s while held',
    unit: 'int',
    better: 'higher',
  },
  { caseId: 'idle-transaction', key: 'jobsPerSecAfter', label: 'idle tx: jobs/s after', unit: 'int', better: 'higher' },
  {
    caseId: 'idle-transaction',
    key: 'p95Held',
    label: 'idle tx: pickup p95 while held (ms, worst 4 s)',
    unit: 'ms',
    better: 'lower',
  },
  {
    caseId: 'idle-transaction',
    key: 'p95After',
    label: 'idle tx: pickup p95 after (ms, worst 4 s)',
    unit: 'ms',
    better: 'lower',
  },
  {
    caseId: 'idle-transaction',
    key: 'backlogMaxHeld',
    label: 'idle tx: backlog max while held',
    unit: 'int',
    better: 'lower',
  },
  { caseId: 'idle-transaction', key: 'backlogEnd', label: 'idle tx: backlog at the end', unit: 'int', better: 'lower' },
  {
    caseId: 'idle-transaction',
    key: 'deadTuplesBefore',
    label: 'idle tx: dead tuples before the hold',
    unit: 'int',
    better: 'lower',
  },
  {
    caseId: 'idle-transaction',
    key: 'deadTuplesEnd',
    label: 'idle tx: dead tuples at the end',
    unit: 'int',
    better: 'lower',
  },
  { caseId: 'bulk-enqueue', key: 'jobsPerSec', label: 'enqueue 100k in bulk (jobs/s)', unit: 'int', better: 'higher' },
  {
    caseId: 'bulk-enqueue',
    key: 'walBytesPerJob',
    label: 'enqueue 100k in bulk: WAL bytes per job',
    unit: 'int',
    better: 'lower',
  },
  ...[1, 2, 4].flatMap((n) => [
    {
      caseId: `instances-${n}`,
      key: 'jobsPerSec',
      label: `${n} instance${n > 1 ? 's' : ''}, drain 100k, c=10 each (jobs/s)`,
      unit: 'int',
      better: 'higher',
    },
    ...(n > 1
      ? [
          {
            caseId: `instances-${n}`,
            key: 'minSharePct',
            label: `${n} instances: smallest share (% of jobs)`,
            unit: 'int',
            better: 'higher',
          },
        ]
      : []),
  ]),
  {
    caseId: 'instances-1',
    key: 'walBytesPerJob',
    label: '1 instance, drain: WAL bytes per job',
    unit: 'int',
    better: 'lower',
  },
  {
    caseId: 'instances-1',
    key: 'rowsPerJob',
    label: '1 instance, drain: rows written per job',
    unit: 'ms',
    better: 'lower',
  },
  ...[1, 4].flatMap((n) =>
    [
      ['postgresCpuUsPerJob', 'PostgreSQL'],
      ['nodeCpuUsPerJob', 'Node'],
    ].map(([key, who]) => ({
      caseId: `instances-${n}`,
      key,
      label: `${n} instance${n > 1 ? 's' : ''}, drain: ${who} CPU per job (µs)`,
      unit: 'int',
      better: 'lower',
    })),
  ),
];

function list(name) {
  const raw = process.env[name];
  if (!raw || !raw.trim()) return null;
  return raw
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
}

function runs() {
  const raw = process.env.BENCH_RUNS;
  if (raw === undefined || raw === '') return 3;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 20) throw new Error(`BENCH_RUNS must be an integer 1..20, got ${raw}`);
  return n;
}

function selectVariants(all) {
  const only = list('BENCH_ONLY');
  if (!only) return all;
  const known = new Set(all.flatMap((v) => [v.name, v.system]));
  const unknown = only.filter((o) => !known.has(o));
  if (unknown.length) throw new Error(`BENCH_ONLY: unknown ${unknown.join(', ')} (known: ${[...known].join(', ')})`);
  return all.filter((v) => only.includes(v.name) || only.includes(v.system));
}

function selectCases() {
  const only = list('BENCH_SCENARIOS');
  if (!only) return CASES;
  const known = new Set(CASES.flatMap((c) => [c.id, c.scenario]));
  const unknown = only.filter((o) => !known.has(o));
  if (unknown.length)
    throw new Error(`BENCH_SCENARIOS: unknown ${unknown.join(', ')} (known: ${[...known].join(', ')})`);
  return CASES.filter((c) => only.includes(c.id) || only.includes(c.scenario));
}

function caseById(id) {
  const found = CASES.find((c) => c.id === id);
  if (!found) throw new Error(`unknown case ${id}`);
  return found;
}

module.exports = { CASES, METRICS, runs, selectVariants, selectCases, caseById };
