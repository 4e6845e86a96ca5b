'use strict';
// instances: `jobs` no-op jobs inserted in bulk, then `instances` worker processes of the same system (each its own
// Node process and pool, concurrency `concurrency`) started at the same moment on the one database; jobs/s from the
// start signal until the database holds no unfinished job, each instance's share of the jobs, the server's WAL, rows
// and buffers per job over the drain, and the CPU time the PostgreSQL and Node processes spent per job. The
// instances report how many jobs they ran; the database is asked for what is left only once they ran them all (a
// `count(*)` of 100,000 rows every few milliseconds would take a good part of a core from the systems measured).
// The point is the shape as instances are added (no collapse of the claim under contention), not the absolute
// rate: on 2 cores the instances and PostgreSQL share the same CPUs.
const path = require('node:path');
const { spawn } = require('node:child_process');
const { execOn } = require('../db');
const { performance, sleep } = require('./util');
const counters = require('./server-counters');
const { cpuTicks, cpuPerJob } = require('./process-cpu');

function startInstance(variant, dbUrl, concurrency) {
  const child = spawn(
    process.execPath,
    [path.join(__dirname, '..', 'instance-worker.js'), JSON.stringify({ variant, dbUrl, concurrency })],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const waiting = new Map(); // line prefix -> resolve
  const state = { ran: 0 };
  let out = '';
  child.stdout.on('data', (d) => {
    out += d;
    let nl;
    while ((nl = out.indexOf('\n')) >= 0) {
      const line = out.slice(0, nl);
      out = out.slice(nl + 1);
      if (line.startsWith('RAN ')) state.ran = Number(line.slice(4));
      for (const [prefix, resolve] of waiting) if (line.startsWith(prefix)) resolve(line.slice(prefix.length).trim());
    }
  });
  const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  const expect = (prefix, deadline) =>
    new Promise((resolve, reject) => {
      waiting.set(prefix, resolve);
      exited.then((code) => reject(new Error(`instance exited (${code}) before ${prefix}`)));
      setTimeout(
        () => reject(new Error(`instance: no ${prefix} in time`)),
        Math.max(0, deadline - performance.now()),
      ).unref();
    });
  return { child, expect, send: (line) => child.stdin.write(`${line}\n`), exited, state };
}

module.exports = async function instances(adapter, { jobs, instances: k, concurrency }, { dbUrl, deadline }) {
  await adapter.setup(dbUrl, { concurrency, scenario: 'instances' });
  if (adapter.insertBulk) await adapter.insertBulk(jobs);
  else await adapter.insertMany(jobs);
  await execOn(dbUrl, 'VACUUM ANALYZE');
  const workers = Array.from({ length: k }, () => startInstance(adapter.name, dbUrl, concurrency));
  try {
    await Promise.all(workers.map((w) => w.expect('READY', deadline)));
    const before = await counters.read(dbUrl);
    const cpuBefore = cpuTicks();
    const t0 = performance.now();
    for (const w of workers) w.send('GO');
    while (workers.reduce((n, w) => n + w.state.ran, 0) < jobs) {
      if (performance.now() > deadline) throw new Error('timeout: the instances did not run every job');
      await sleep(2);
    }
    for (;;) {
      const left = await adapter.countUnfinished();
      if (left === 0) break;
      if (performance.now() > deadline) throw new Error(`timeout: ${left} jobs still unfinished`);
      await sleep(10);
    }
    const elapsedMs = performance.now() - t0;
    const cpu = cpuPerJob(cpuBefore, cpuTicks(), jobs);
    const done = workers.map((w) => w.expect('DONE', deadline));
    for (const w of workers) w.send('STOP');
    const counts = (await Promise.all(done)).map(Number);
    await Promise.all(workers.map((w) => w.exited));
    const after = await counters.read(dbUrl);
    const handled = counts.reduce((a, b) => a + b, 0);
    if (handled < jobs) throw new Error(`the instances ran ${handled} of ${jobs} jobs`);
    const shares = counts.map((c) => (100 * c) / handled);
    return {
      jobsPerSec: jobs / (elapsedMs / 1000),
      elapsedMs,
      handled,
      minSharePct: Math.min(...shares),
      maxSharePct: Math.max(...shares),
      ...Object.fromEntries(shares.map((s, i) => [`sharePct_${i + 1}`, s])),
      ...(await counters.perJob(dbUrl, before, after, jobs)),
      ...cpu,
    };
  } finally {
    for (const w of workers) if (w.child.exitCode === null) w.child.kill('SIGKILL');
  }
};
