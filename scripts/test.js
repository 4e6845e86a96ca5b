#!/usr/bin/env node
'use strict';
// `npm test`: the whole suite in two lanes that run at the same time, each one jest process running its files one
// after another:
//   in-process  the unit specs and the integration tests (Nest apps inside the jest process, one at a time);
//   processes   the end-to-end tests (sample app processes they start, kill and restart) and the consumer check
//               (npm installs of the packed tarball).
// The second lane spends most of its time waiting on other processes, the first on the database: side by side they
// take about as long as the longer one, where one after the other they took the sum. Within a lane files never
// overlap, so no two end-to-end fleets compete for the server's connections.
// Arguments that pick tests (a path pattern, --selectProjects, -t, …) run one jest in band instead, as before.
// `--json --outputFile=F` writes one report for both lanes (the counts summed, every file's result).
const { spawn } = require('node:child_process');
const { readFileSync, writeFileSync, rmSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');

const jest = require.resolve('jest/bin/jest');
const PROCESS_TESTS = ['/test/e2e/', '/test/consumer/'];

const args = process.argv.slice(2);
let outputFile = null;
let json = false;
const rest = [];
for (let i = 0; i < args.length; i += 1) {
  const arg = args[i];
  if (arg === '--json') json = true;
  else if (arg.startsWith('--outputFile=')) outputFile = arg.slice('--outputFile='.length);
  else if (arg === '--outputFile') outputFile = args[++i];
  else rest.push(arg);
}

const children = new Set();
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    for (const child of children) child.kill(signal);
  });
}

/** Runs jest with `jestArgs`, each output line prefixed with `label` (none for a single run). */
function runJest(label, jestArgs) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [jest, ...jestArgs], {
      stdio: label ? ['inherit', 'pipe', 'pipe'] : 'inherit',
    });
    children.add(child);
    if (label) {
      for (const [from, to] of [
        [child.stdout, process.stdout],
        [child.stderr, process.stderr],
      ]) {
        let partial = '';
        from.setEncoding('utf8');
        from.on('data', (chunk) => {
          const lines = (partial + chunk).split('\n');
          partial = lines.pop();
          for (const line of lines) to.write(`${label} ${line}\n`);
        });
        from.on('end', () => partial && to.write(`${label} ${partial}\n`));
      }
    }
    child.on('close', (code, signal) => {
      children.delete(child);
      resolve(code ?? (signal ? 1 : 0));
    });
  });
}

const picksTests =
  rest.some((arg) => !arg.startsWith('-')) ||
  rest.some((arg) => /^(--selectProjects|-t|--testNamePattern|--testPathPatterns?|--shard)/.test(arg));

async function main() {
  if (picksTests) {
    const own = json ? ['--json', ...(outputFile ? [`--outputFile=${outputFile}`] : [])] : [];
    return runJest(null, ['--runInBand', ...rest, ...own]);
  }
  const reports =
    json || outputFile
      ? [join(tmpdir(), `jq-test-a-${process.pid}.json`), join(tmpdir(), `jq-test-b-${process.pid}.json`)]
      : [];
  const report = (i) => (reports.length ? ['--json', `--outputFile=${reports[i]}`] : []);
  const lanes = [
    runJest('in-process │', ['--runInBand', '--testPathIgnorePatterns', ...PROCESS_TESTS, ...report(0), ...rest]),
    runJest('processes  │', [
      '--runInBand',
      '--selectProjects',
      'integration',
      '--testPathPatterns',
      ...PROCESS_TESTS,
      ...report(1),
      ...rest,
    ]),
  ];
  const codes = await Promise.all(lanes);
  if (reports.length) writeReport(reports);
  return codes.some((code) => code !== 0) ? 1 : 0;
}

/** One jest report for both lanes: the counts summed, the files' results together. */
function writeReport(files) {
  const parts = files.map((file) => {
    try {
      return JSON.parse(readFileSync(file, 'utf8'));
    } catch {
      return null;
    } finally {
      rmSync(file, { force: true });
    }
  });
  const merged = { success: parts.every((p) => p?.success === true), testResults: [] };
  for (const key of [
    'numTotalTests',
    'numPassedTests',
    'numFailedTests',
    'numPendingTests',
    'numTotalTestSuites',
    'numFailedTestSuites',
  ]) {
    merged[key] = parts.reduce((sum, p) => sum + (p?.[key] ?? 0), 0);
  }
  for (const part of parts) merged.testResults.push(...(part?.testResults ?? []));
  // A lane that left no report failed before running anything: the run must not look complete.
  if (parts.some((p) => p === null)) merged.success = false;
  const text = JSON.stringify(merged);
  if (outputFile) writeFileSync(outputFile, text);
  else process.stdout.write(`${text}\n`);
}

main().then((code) => process.exit(code));
