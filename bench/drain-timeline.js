'use strict';
// Whether a drain overlaps the worker with the database: `node bench/drain-timeline.js` (see bench/README.md).
// A fresh database with JOBS no-op jobs (bulk-inserted, then VACUUM ANALYZE), then our worker (VARIANT, default
// `ours-prefetch`) at CONCURRENCY, in this process. Every claim and completion statement the repository sends is
// timed. Prints the drain's jobs/s, this process's CPU per job, the share of the wall time during which at least
// one statement was in flight (the rest the database had nothing of ours to do), and per statement kind its calls,
// time and rows. DUMP=N also prints the first N statements of the drain, with their start and end (ms).
//   JOBS=100000 node bench/drain-timeline.js          (JOBS=40000 CONCURRENCY=32 VARIANT=ours-prefetch DUMP=0)
const { performance } = require('node:perf_hooks');
const db = require('./db');
const ours = require('./systems/ours');
const { cpuTicks, cpuPerJob } = require('./scenarios/process-cpu');
const fs = require('node:fs');

/** The machine's idle and total clock ticks so far (the first line of /proc/stat), or null off Linux. */
function machineTicks() {
  try {
    const fields = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    return { idle: fields[3] + fields[4], total: fields.reduce((a, b) => a + b, 0) };
  } catch {
    return null;
  }
}

/**
 * This process's CPU time in ns so far, the main thread apart from the others (V8's helper threads: parallel and
 * concurrent GC, background compilation; libuv's pool), from /proc/self/task/<tid>/schedstat; null off Linux.
 */
function threadCpuNs() {
  try {
    let main = 0;
    let others = 0;
    for (const tid of fs.readdirSync('/proc/self/task')) {
      let ns;
      try {
        ns = Number(fs.readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      } catch {
        continue; // a thread that ended meanwhile
      }
      if (Number(tid) === process.pid) main += ns;
      else others += ns;
    }
    return { main, others };
  } catch {
    return null;
  }
}

const JOBS = Number(process.env.JOBS || 40_000);
const CONCURRENCY = Number(process.env.CONCURRENCY || 32);
const VARIANT = process.env.VARIANT || 'ours-prefetch';
const DUMP = Number(process.env.DUMP || 0);
/**
 * The repository's calls of a drain: a claim carrying completions (which calls `claimAvailable` itself when it
 * carries none), a claim, completions written alone. Rows sent: the completions (the first argument) of those
 * that carry them.
 */
const TIMED = ['completeAndClaim', 'claimAvailable', 'completeMany'];
const CARRIES_COMPLETIONS = new Set(['completeAndClaim', 'completeMany']);

/** Wraps the repository's methods so that each call is logged: kind, start, end, rows sent and rows back. */
function timeStatements(repository, log) {
  const prototype = Object.getPrototypeOf(repository);
  for (const kind of TIMED) {
    const original = prototype[kind];
    prototype[kind] = async function timed(...args) {
      const start = performance.now();
      const result = await original.apply(this, args);
      const back = result?.jobs ?? result;
      log.push({
        kind,
        start,
        end: performance.now(),
        sent: CARRIES_COMPLETIONS.has(kind) ? args[0].length : 0,
        back: Array.isArray(back) ? back.length : back instanceof Set ? back.size : 0,
      });
      return result;
    };
  }
}

/** ms of [from, to] covered by at least one statement. */
function coveredMs(log, from, to) {
  const spans = log.map((s) => [Math.max(s.start, from), Math.min(s.end, to)]).filter(([a, b]) => b > a);
  spans.sort((a, b) => a[0] - b[0]);
  let covered = 0;
  let current = null;
  for (const [a, b] of spans) {
    if (current && a <= current[1]) current[1] = Math.max(current[1], b);
    else {
      if (current) covered += current[1] - current[0];
      current = [a, b];
    }
  }
  return covered + (current ? current[1] - current[0] : 0);
}

(async () => {
  const { name, url } = await db.createDatabase('ours');
  const system = ours.find((s) => s.name === VARIANT);
  if (!system) throw new Error(`VARIANT ${VARIANT}: not one of ${ours.map((s) => s.name).join(', ')}`);
  const adapter = system.create();
  try {
    await adapter.setup(url);
    await adapter.insertBulk(JOBS);
    await db.execOn(url, 'VACUUM ANALYZE');
    const log = [];
    timeStatements(adapter.repository, log);
    let handled = 0;
    let drained;
    const done = new Promise((resolve) => (drained = resolve));
    const cpu0 = process.cpuUsage();
    const ticks0 = cpuTicks();
    const machine0 = machineTicks();
    const threads0 = threadCpuNs();
    const t0 = performance.now();
    await adapter.startWorker({ concurrency: CONCURRENCY, onJob: () => ++handled === JOBS && drained() });
    await done;
    const t1 = performance.now();
    const cpu = process.cpuUsage(cpu0);
    const byGroup = cpuPerJob(ticks0, cpuTicks(), JOBS);
    const machine1 = machineTicks();
    const threads1 = threadCpuNs();
    const wall = t1 - t0;
    console.log(
      `${VARIANT}, ${JOBS} jobs at concurrency ${CONCURRENCY}: ${Math.round(JOBS / (wall / 1000))} jobs/s, ` +
        `this process ${((cpu.user + cpu.system) / JOBS).toFixed(1)} µs CPU a job, ` +
        `a statement in flight ${Math.round((coveredMs(log, t0, t1) / wall) * 100)}% of the wall time`,
    );
    if (byGroup.postgresCpuUsPerJob !== undefined && machine0 && machine1) {
      const busy = 1 - (machine1.idle - machine0.idle) / (machine1.total - machine0.total);
      console.log(
        `  CPU a job: PostgreSQL ${byGroup.postgresCpuUsPerJob.toFixed(1)} µs, Node ${byGroup.nodeCpuUsPerJob.toFixed(1)} µs; ` +
          `the machine's CPUs ${Math.round(busy * 100)}% busy`,
      );
    }
    if (threads0 && threads1) {
      // A thread that ended during the drain drops out of `others`: the split is a lower bound for the helpers.
      const us = (a, b) => ((b - a) / 1000 / JOBS).toFixed(1);
      console.log(
        `  this process's CPU a job: main thread ${us(threads0.main, threads1.main)} µs, ` +
          `other threads ${us(threads0.others, threads1.others)} µs`,
      );
    }
    for (const kind of TIMED) {
      const of = log.filter((s) => s.kind === kind);
      if (of.length === 0) continue;
      const ms = of.reduce((sum, s) => sum + s.end - s.start, 0);
      const sent = of.reduce((sum, s) => sum + s.sent, 0);
      const back = of.reduce((sum, s) => sum + s.back, 0);
      console.log(
        `  ${kind.padEnd(17)} ${String(of.length).padStart(5)} calls, ${ms.toFixed(0).padStart(6)} ms, ` +
          `${(sent / of.length).toFixed(0)} rows sent and ${(back / of.length).toFixed(0)} back a call`,
      );
    }
    for (const s of log.slice(0, DUMP)) {
      console.log(`  ${s.kind} ${(s.start - t0).toFixed(2)}–${(s.end - t0).toFixed(2)} sent ${s.sent} back ${s.back}`);
    }
  } finally {
    await adapter.teardown();
    await db.dropDatabase(name);
  }
})().catch((error) => {
  console.error(error);
  process.exit(1);
});
