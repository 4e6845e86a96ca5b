#!/usr/bin/env node
// `npm run test:postgres-versions`: the integration suite against the oldest and the newest PostgreSQL the library
// supports, each an embedded server started by the tests' global setup (JOB_QUEUE_TEST_POSTGRES). The end-to-end
// suite (sample app processes) runs once, in `npm test`, against the main server: it tests processes, not SQL.
const { spawnSync } = require('node:child_process');

const majors = (process.argv[2] ?? '13,18').split(',');
let failed = false;
for (const major of majors) {
  process.stdout.write(`\n== PostgreSQL ${major}\n`);
  const jest = require.resolve('jest/bin/jest');
  const args = [jest, '--runInBand', '--selectProjects', 'integration', '--testPathIgnorePatterns', '/test/e2e/', '/test/consumer/'];
  const { status } = spawnSync(process.execPath, [...args, ...process.argv.slice(3)], {
    stdio: 'inherit',
    env: { ...process.env, JOB_QUEUE_TEST_POSTGRES: major },
  });
  if (status !== 0) failed = true;
}
process.exit(failed ? 1 : 0);
