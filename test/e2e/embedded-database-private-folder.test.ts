import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../support/test-database-resolver';
import { ensureSampleBuilt } from './support/sample-build';
import { SampleProcess } from './support/sample-process';

const root = join(__dirname, '../..');

/**
 * A clone under a private home (mode 0700), started with no DATABASE_URL. As root, the embedded PostgreSQL runs as
 * the `postgres` user, which cannot reach the binaries under node_modules nor the data folder: the app must say so
 * in one line and exit 1, not die of an unhandled `spawn … EACCES`. As any other user the folder is no problem.
 */
describe('e2e: the sample app with an embedded database, cloned under a private folder', () => {
  let home: string;
  let clone: string;

  beforeAll(() => {
    ensureSampleBuilt();
    home = mkdtempSync(join(tmpdir(), 'job-queue-private-home-'));
    chmodSync(home, 0o700);
    clone = join(home, 'project');
    mkdirSync(clone);
    // What running the app needs: the build, its node_modules, and the sources the start script compares the build
    // with. Hard-linked (cheap, the same files); copied when the temporary folder is on another file system.
    for (const part of ['package.json', 'scripts', 'dist', 'node_modules', 'apps', 'libs']) {
      try {
        execFileSync('cp', ['-al', join(root, part), join(clone, part)], { stdio: 'pipe' });
      } catch {
        rmSync(join(clone, part), { recursive: true, force: true });
        execFileSync('cp', ['-a', join(root, part), join(clone, part)]);
      }
    }
  }, 120_000);

  afterAll(() => {
    rmSync(home, { recursive: true, force: true });
  });

  it('as root: says in one line why the database cannot start and what to do, and exits 1; otherwise starts', async () => {
    const port = await freePort();
    const env = {
      PATH: process.env.PATH,
      NO_COLOR: '1',
      PORT: String(port),
      EMBEDDED_PG_PORT: String(await freePort()),
    };
    const child = spawn(process.execPath, [join(clone, 'dist/apps/sample/main.js')], {
      cwd: clone,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const proc = new SampleProcess('private', port, child);
    if (process.getuid?.() !== 0) {
      await proc.waitReady(120_000);
      proc.signal('SIGTERM');
      expect(await proc.exited).toEqual({ code: 0, signal: null });
      return;
    }
    const exit = await proc.exited;
    expect({ exit, output: proc.output() }).toMatchObject({ exit: { code: 1, signal: null } });
    const said = proc.grep(/\[private (out|err)\] ./);
    expect(said).toEqual([
      expect.stringMatching(
        new RegExp(
          `runs as the "postgres" user when the app runs as root, and that user cannot enter ${home} \\(mode 0700\\): move the project`,
        ),
      ),
    ]);
  }, 180_000);
});
