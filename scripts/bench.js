#!/usr/bin/env node
'use strict';
// `npm run bench`: installs the benchmark's own dependencies (bench/package-lock.json, `npm ci`) when they are
// missing, then runs the harness bench/run.js. Env filters: BENCH_RUNS, BENCH_ONLY, BENCH_SCENARIOS,
// BENCH_DATABASE_URL (see bench/README.md).
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync, spawn } = require('node:child_process');

const benchDir = path.resolve(__dirname, '..', 'bench');
const needed = ['graphile-worker', 'pg-boss', 'pg'];
const installed = needed.every((name) => fs.existsSync(path.join(benchDir, 'node_modules', name, 'package.json')));

if (!installed) {
  console.log('bench: installing bench/ dependencies (npm ci)…');
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const res = spawnSync(npm, ['ci', '--no-audit', '--no-fund'], { cwd: benchDir, stdio: 'inherit' });
  if (res.status !== 0) {
    console.error(`bench: npm ci in bench/ failed (${res.error ? res.error.message : `exit ${res.status}`})`);
    process.exit(1);
  }
}

const child = spawn(process.execPath, [path.join(benchDir, 'run.js')], { stdio: 'inherit' });
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
child.on('close', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
