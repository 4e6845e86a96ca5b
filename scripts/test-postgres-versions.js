#!/usr/bin/env node
// `npm run test:postgres-versions`: the integration suite against the oldest and the newest PostgreSQL the library
// supports, each an embedded server started by the tests' global setup (JOB_QUEUE_TEST_POSTGRES). The end-to-end
// suite (sample app processes) and the consumer check run once, in `npm test`: they test processes and packaging,
// not SQL. Extra arguments go to jest.
const { spawnSync } = require('node:child_process');
const { mkdtempSync, readFileSync, rmSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');

const majors = (process.env.JOB_QUEUE_TEST_POSTGRES_MAJORS ?? '13,18').split(',');
const jest = require.resolve('jest/bin/jest');
const dir = mkdtempSync(join(tmpdir(), 'job-queue-pg-versions-'));
let failed = false;
for (const major of majors) {
  process.stdout.write(`\n== PostgreSQL ${major}\n`);
  const results = join(dir, `${major}.json`);
  const args = ['--runInBand', '--selectProjects', 'integration', '--testPathIgnorePatterns', '/test/e2e/', '/test/consumer/'];
  const { status } = spawnSync(process.execPath, [jest, ...args, '--json', `--outputFile=${results}`, ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, JOB_QUEUE_TEST_POSTGRES: major },
  });
  let summary = 'no results';
  try {
    const r = JSON.parse(readFileSync(results, 'utf8'));
    summary = `${r.numPassedTests} passed, ${r.numFailedTests} failed`;
    if (r.numTotalTests === 0) failed = true;
  } catch {
    failed = true;
  }
  process.stdout.write(`PostgreSQL ${major}: ${summary}\n`);
  if (status !== 0) failed = true;
}
rmSync(dir, { recursive: true, force: true });
process.exit(failed ? 1 : 0);
