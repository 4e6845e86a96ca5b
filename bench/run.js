'use strict';
// Orchestrator of `npm run bench`: for each run, case and variant (runs outermost, so that the systems alternate
// and a drift of the machine spreads over all of them), create a fresh database, run the case in a child process
// (run-one.js) under a hard timeout, drop the database; then print the table and write results/.
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');
const config = require('./config');
const allVariants = require('./systems');
const db = require('./db');
const report = require('./report');
const { startServer, serverSettings } = require('./server');

const RESULTS_DIR = path.join(__dirname, 'results');
let current = null; // { child, dbName } of the run in progress, for Ctrl-C
let server = null; // the server started for the bench (BENCH_SERVER=embedded), stopped at the end

function runChild(variant, spec, dbUrl) {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [path.join(__dirname, 'run-one.js'), JSON.stringify({ variant: variant.name, caseId: spec.id, dbUrl })],
      {
        cwd: __dirname,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    current.child = child;
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), spec.timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const line = out
        .split('\n')
        .reverse()
        .find((l) => l.startsWith('BENCH_'));
      if (!line) {
        const why = signal ? `killed by ${signal} (timeout ${spec.timeoutMs} ms?)` : `exit ${code}`;
        return resolve({ status: 'error', error: `${why}; stderr: ${err.trim().split('\n').slice(-3).join(' | ')}` });
      }
      const [kind, ...rest] = line.split(' ');
      const payload = rest.join(' ');
      if (kind === 'BENCH_RESULT') return resolve({ status: 'ok', metrics: JSON.parse(payload) });
      if (kind === 'BENCH_SKIP') return resolve({ status: 'skipped', error: payload });
      if (kind === 'BENCH_NOTREADY') {
        const { scope, message } = JSON.parse(payload);
        return resolve({ status: 'not-ready', scope, error: message });
      }
      return resolve({ status: 'error', error: payload });
    });
  });
}

function summary(caseId, m) {
  const f = report.fmt;
  if (caseId.startsWith('drain')) {
    const cpu = m.cpuUsPerJob === undefined ? '' : `, ${f(m.cpuUsPerJob, 'int')} µs CPU/job`;
    return `${f(m.jobsPerSec, 'int')} jobs/s (${f(m.elapsedMs, 'int')} ms${cpu})`;
  }
  if (caseId === 'steady')
    return `${f(m.jobsPerSec, 'int')} jobs/s handled, ${f(m.enqueuedPerSec, 'int')} jobs/s enqueued`;
  if (caseId === 'latency') return `p50 ${f(m.p50, 'ms')} / p95 ${f(m.p95, 'ms')} / p99 ${f(m.p99, 'ms')} ms`;
  if (caseId === 'backlog')
    return `claim p50 ${f(m.claimMs_1000, 'ms')} ms at 1k, ${f(m.claimMs_1000000, 'ms')} ms at 1M`;
  if (caseId === 'bulk-enqueue') return `${f(m.jobsPerSec, 'int')} jobs/s, ${f(m.walBytesPerJob, 'int')} WAL bytes/job`;
  if (caseId.startsWith('instances')) {
    const shares = Object.keys(m)
      .filter((k) => k.startsWith('sharePct_'))
      .map((k) => `${m[k].toFixed(1)}%`);
    return (
      `${f(m.jobsPerSec, 'int')} jobs/s, shares ${shares.join(' / ')}; ` +
      `${f(m.walBytesPerJob, 'int')} WAL bytes, ${m.rowsPerJob.toFixed(2)} rows, ${m.buffersPerJob.toFixed(1)} buffers, ` +
      `CPU µs ${f(m.postgresCpuUsPerJob, 'int')} PostgreSQL + ${f(m.nodeCpuUsPerJob, 'int')} Node per job`
    );
  }
  if (caseId === 'idle-transaction') {
    return (
      `jobs/s before ${f(m.jobsPerSecBefore, 'int')}, held ${f(m.jobsPerSecHeld, 'int')}, after ${f(m.jobsPerSecAfter, 'int')}; ` +
      `backlog max held ${f(m.backlogMaxHeld, 'int')}, end ${f(m.backlogEnd, 'int')}; dead tuples end ${f(m.deadTuplesEnd, 'int')}`
    );
  }
  return JSON.stringify(m);
}

async function main() {
  const variants = config.selectVariants(allVariants);
  const cases = config.selectCases();
  const runs = config.runs();
  const started = Date.now();
  server = await startServer();
  const postgres = await db.serverVersion();
  const settings = await serverSettings();
  const host = new URL(db.serverUrl());
  console.log(
    `bench: ${variants.map((v) => v.name).join(', ')} × ${cases.map((c) => c.id).join(', ')} × ${runs} run(s) on ${host.host}`,
  );
  console.log(
    `bench: server (${server.label}): ${Object.entries(settings)
      .map(([k, v]) => `${k}=${v}`)
      .join(', ')}`,
  );
  const loadAtStart = os.loadavg()[0];
  if (loadAtStart > os.cpus().length / 2) {
    console.log(
      `bench: warning: load average ${loadAtStart.toFixed(2)} on ${os.cpus().length} cores; numbers will be noisy`,
    );
  }

  const results = [];
  const notReady = new Map(); // variant -> reason; skipped for the rest of the bench
  const notReadyCase = new Set(); // `${variant}:${case}` skipped for the rest of the bench
  for (let run = 1; run <= runs; run += 1) {
    for (const spec of cases) {
      for (const variant of variants) {
        if (notReady.has(variant.name) || notReadyCase.has(`${variant.name}:${spec.id}`)) continue;
        const tag = `[${run}/${runs}] ${spec.id.padEnd(9)} ${variant.name.padEnd(16)}`;
        if (spec.scenario === 'backlog' && !variant.create().backlog) {
          results.push({ variant: variant.name, system: variant.system, caseId: spec.id, run, status: 'skipped' });
          if (run === 1) console.log(`${tag} n/a (the adapter has no backlog probe)`);
          continue;
        }
        const { name: dbName, url } = await db.createDatabase(variant.system);
        current = { dbName, child: null };
        const t0 = Date.now();
        let outcome;
        try {
          outcome = await runChild(variant, spec, url);
        } finally {
          await db.dropDatabase(dbName).catch((e) => console.error(`  could not drop ${dbName}: ${e.message}`));
          current = null;
        }
        const wallMs = Date.now() - t0;
        results.push({ variant: variant.name, system: variant.system, caseId: spec.id, run, wallMs, ...outcome });
        if (outcome.status === 'ok') console.log(`${tag} ${summary(spec.id, outcome.metrics)}`);
        else if (outcome.status === 'not-ready') {
          if (outcome.scope === 'system') notReady.set(variant.name, outcome.error);
          else notReadyCase.add(`${variant.name}:${spec.id}`);
          console.log(
            `${tag} skip ${variant.name}${outcome.scope === 'system' ? '' : ` ${spec.id}`}: not ready (${outcome.error})`,
          );
        } else console.log(`${tag} ${outcome.status}: ${outcome.error}`);
      }
    }
  }

  const medians = report.computeMedians(results);
  const cellNote = (name, caseId) => {
    if (notReady.has(name)) return 'not ready';
    const rs = results.filter((r) => r.variant === name && r.caseId === caseId);
    if (rs.length === 0) return '—';
    if (rs.every((r) => r.status === 'skipped')) return 'n/a';
    if (rs.every((r) => r.status === 'not-ready')) return 'not ready';
    return 'failed';
  };
  const shownMetrics = config.METRICS.filter((m) => cases.some((c) => c.id === m.caseId));
  const table = report.buildTable({ variants, metrics: shownMetrics, medians, cellNote });
  console.log(`\n${report.toText(table)}\n`);
  for (const v of variants) console.log(`  ${v.name}: ${v.settings}`);

  const filters = ['BENCH_ONLY', 'BENCH_SCENARIOS', 'BENCH_RUNS', 'BENCH_SERVER']
    .filter((k) => process.env[k])
    .map((k) => `${k}=${process.env[k]}`)
    .join(' ');
  const meta = {
    startedAt: new Date(started).toISOString(),
    finishedAt: new Date().toISOString(),
    durationS: Math.round((Date.now() - started) / 1000),
    machine: `${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB`,
    loadAverage1m: { start: Number(loadAtStart.toFixed(2)), end: Number(os.loadavg()[0].toFixed(2)) },
    node: process.versions.node,
    postgres,
    server: host.host,
    serverLabel: server.label,
    serverSettings: settings,
    runs,
    filters,
    versions: {
      'graphile-worker': require('graphile-worker/package.json').version,
      'pg-boss': require('pg-boss/package.json').version,
      pg: require('pg/package.json').version,
    },
    variants: variants.map((v) => ({ name: v.name, settings: v.settings, notReady: notReady.get(v.name) || null })),
    cases: cases.map((c) => ({ id: c.id, params: c.params })),
  };
  // The default server's results keep their usual name; another server's go beside them.
  const name = server.label === 'local' ? 'latest' : `latest-${server.label}`;
  report.writeResults(RESULTS_DIR, { table, meta, runs: results, medians, variants }, name);
  console.log(
    `\nwrote ${path.relative(process.cwd(), path.join(RESULTS_DIR, `${name}.md`))} and ${name}.json (${meta.durationS} s)`,
  );
  const timelines = report.writeTimelines(RESULTS_DIR, { meta, runs: results }, `idle-transaction-${server.label}`);
  if (timelines) console.log(`wrote ${path.relative(process.cwd(), timelines)}`);
  await server.stop();
  server = null;
  return results.some((r) => r.status === 'error') ? 1 : 0;
}

function interrupt(signal) {
  const c = current;
  if (c && c.child) c.child.kill('SIGKILL');
  const stopServer = () => (server ? server.stop() : Promise.resolve()).catch(() => undefined);
  const done = () => stopServer().then(() => process.exit(130));
  if (c) db.dropDatabase(c.dbName).then(done, done);
  else done();
  console.error(`\nbench: ${signal}, stopping`);
}
process.on('SIGINT', interrupt);
process.on('SIGTERM', interrupt);

main().then(
  (code) => process.exit(code),
  async (err) => {
    console.error(`bench: ${err.stack || err.message}`);
    if (server) await server.stop().catch(() => undefined);
    process.exit(1);
  },
);
