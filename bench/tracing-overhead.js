'use strict';
// The library's own tracing work per attempt, without a database: `node bench/tracing-overhead.js` runs it under
// each BENCH_TRACING mode (absent, api, sdk; see tracing-mode.js), each in a process of its own, and prints the
// Node CPU time per attempt (start the span, run a no-op handler inside it, end it). In `sdk` mode half the jobs
// carry a stored context (a child span with a link), half none (a root span).
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const ATTEMPTS = 200_000;

if (!process.env.BENCH_TRACING) {
  for (const mode of ['absent', 'api', 'sdk']) {
    const run = spawnSync(process.execPath, [__filename], {
      env: { ...process.env, BENCH_TRACING: mode },
      encoding: 'utf8',
    });
    process.stdout.write(run.stdout || run.stderr);
  }
  return;
}

const { TRACING_MODE, applyTracingMode } = require('./tracing-mode');
applyTracingMode();
require('ts-node').register({ transpileOnly: true, project: path.resolve(__dirname, '..', 'tsconfig.json') });
const { JobQueueTracing } = require('../libs/job-queue/src/tracing/job-queue.tracing');

const tracing = new JobQueueTracing();
const job = (i) => ({
  id: '00000000-0000-4000-8000-' + String(i).padStart(12, '0'),
  queue: 'default',
  type: 'bench.noop',
  attempt_count: 1,
  max_attempts: 5,
  trace_context:
    TRACING_MODE === 'sdk' && i % 2 === 0
      ? { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' }
      : null,
});
const jobs = Array.from({ length: ATTEMPTS }, (_, i) => job(i));
const attempt = (j) => {
  const trace = tracing.attemptStarted(j);
  trace.run(() => undefined);
  trace.finished('completed');
};
for (let i = 0; i < 20_000; i++) attempt(jobs[i]); // warm-up
const cpu0 = process.cpuUsage();
for (const j of jobs) attempt(j);
const cpu = process.cpuUsage(cpu0);
const ns = ((cpu.user + cpu.system) * 1000) / ATTEMPTS;
console.log(`tracing ${TRACING_MODE.padEnd(6)} ${ns.toFixed(0).padStart(6)} ns CPU per attempt (${ATTEMPTS} attempts)`);
