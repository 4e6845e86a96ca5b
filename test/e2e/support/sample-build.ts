import { execFileSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';

const root = join(__dirname, '../../..');
export const SAMPLE_BUNDLE = join(root, 'dist/apps/sample/main.js');
const LOCK = join(root, 'dist/.sample-build.lock');
/** Names the jest run that last built or checked the bundle: within one run it is built at most once. */
const RUN_STAMP = join(root, 'dist/.sample-build.run');
/** A lock older than this belongs to a build that died; the next caller takes it over. */
const STALE_LOCK_MS = 180_000;

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

function checkedThisRun(): boolean {
  const run = process.env.JOB_QUEUE_TEST_RUN_ID;
  return !!run && existsSync(RUN_STAMP) && readFileSync(RUN_STAMP, 'utf8') === run;
}

function stampRun(): void {
  if (process.env.JOB_QUEUE_TEST_RUN_ID) writeFileSync(RUN_STAMP, process.env.JOB_QUEUE_TEST_RUN_ID);
}

/**
 * The same rule as scripts/start-sample.js: the bundle is stale when missing or older than any source file. Once
 * a run has built or checked it, sources edited later in that run do not trigger a second build.
 */
function bundleIsFresh(): boolean {
  if (!existsSync(SAMPLE_BUNDLE)) return false;
  if (checkedThisRun()) return true;
  const sources = Math.max(newestMtime(join(root, 'apps/sample/src')), newestMtime(join(root, 'libs/job-queue/src')));
  return statSync(SAMPLE_BUNDLE).mtimeMs >= sources;
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Builds the sample app (`nest build sample`) when its bundle is missing or stale, at most once per jest run. A lock file
 * (created with O_EXCL) keeps parallel jest workers from building at the same time: the others wait for it, then
 * find the bundle fresh.
 */
export function ensureSampleBuilt(): void {
  if (bundleIsFresh()) return stampRun();
  buildOnce(LOCK, bundleIsFresh, () => {
    process.stdout.write('e2e: building the sample app (nest build sample)...\n');
    try {
      execFileSync(process.execPath, [require.resolve('@nestjs/cli/bin/nest.js'), 'build', 'sample'], {
        cwd: root,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } catch (error) {
      // webpack may still have written a bundle, newer than the sources: remove it so that the next run rebuilds.
      rmSync(SAMPLE_BUNDLE, { force: true });
      const { stdout, stderr } = error as { stdout?: Buffer; stderr?: Buffer };
      throw new Error(`Building the sample app failed:\n${stdout?.toString() ?? ''}${stderr?.toString() ?? ''}`, {
        cause: error,
      });
    }
  });
  stampRun();
}

/**
 * Runs `build` under the lock file `lock` (created with O_EXCL), unless `fresh()` says, once the lock is held, that
 * another process built it meanwhile. A lock older than STALE_LOCK_MS belongs to a build that died and is taken over.
 */
export function buildOnce(lock: string, fresh: () => boolean, build: () => void): void {
  mkdirSync(join(lock, '..'), { recursive: true });
  const deadline = Date.now() + STALE_LOCK_MS;
  let fd: number | undefined;
  while (fd === undefined) {
    try {
      fd = openSync(lock, 'wx');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const age = existsSync(lock) ? Date.now() - statSync(lock).mtimeMs : 0;
      if (age > STALE_LOCK_MS) rmSync(lock, { force: true });
      if (Date.now() > deadline) throw new Error(`Timed out waiting for another build (${lock})`, { cause: error });
      sleepSync(250);
    }
  }
  try {
    writeSync(fd, String(process.pid));
    if (!fresh()) build();
  } finally {
    closeSync(fd);
    rmSync(lock, { force: true });
  }
}
