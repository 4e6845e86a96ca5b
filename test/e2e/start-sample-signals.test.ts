import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../support/test-database-resolver';
import { waitFor } from '../support/wait-for';
import { ensureSampleBuilt } from './support/sample-build';
import { SampleProcess } from './support/sample-process';

const root = join(__dirname, '../..');

/** Whether anything accepts TCP connections on the port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Process ids of the process group `pgid`. */
function groupMembers(pgid: number): number[] {
  const rows = execFileSync('ps', ['-eo', 'pid=,pgid='], { encoding: 'utf8' }).trim().split('\n');
  return rows
    .map((row) => row.trim().split(/\s+/).map(Number))
    .filter(([, group]) => group === pgid)
    .map(([pid]) => pid);
}

/**
 * `npm run start:sample` with no DATABASE_URL, stopped the way a person stops it: Ctrl+C in the terminal (SIGINT to
 * the whole foreground process group: npm, its shell, node, and whatever they spawned), or a service manager's
 * SIGTERM to the group. The app must drain and release its running jobs, then stop the embedded PostgreSQL, and
 * npm must exit 0.
 */
describe('e2e: npm run start:sample stopped by a signal to its process group', () => {
  let workdir: string;
  const procs: SampleProcess[] = [];

  beforeAll(() => {
    ensureSampleBuilt();
    // A folder like a clone of the repository, so that the embedded database's data (./.data of the folder npm
    // runs the script in) is the test's own: the repository's package.json, and its scripts/ (which run the
    // repository's build).
    workdir = mkdtempSync(join(tmpdir(), 'job-queue-start-sample-'));
    chmodSync(workdir, 0o755);
    copyFileSync(join(root, 'package.json'), join(workdir, 'package.json'));
    symlinkSync(join(root, 'scripts'), join(workdir, 'scripts'));
  });

  afterAll(async () => {
    for (const proc of procs) {
      if (proc.alive) {
        try {
          process.kill(-proc.pid, 'SIGKILL');
        } catch {
          // already gone
        }
        await proc.exited;
      }
    }
    const pidFile = join(workdir, '.data/pg/postmaster.pid');
    if (existsSync(pidFile)) process.kill(Number(readFileSync(pidFile, 'utf8').split('\n')[0]), 'SIGINT');
    rmSync(workdir, { recursive: true, force: true });
  });

  async function npmStart(id: string, pgPort: number): Promise<SampleProcess> {
    const port = await freePort();
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NO_COLOR: '1',
      PORT: String(port),
      EMBEDDED_PG_PORT: String(pgPort),
      INSTANCE_ID: id,
      JOB_QUEUE_SHUTDOWN_TIMEOUT_MS: '1000',
      JOB_QUEUE_POLL_INTERVAL_MS: '200',
    };
    // detached: npm leads a process group of its own, as a shell's job in a terminal does.
    const child = spawn('npm', ['run', 'start:sample'], {
      cwd: workdir,
      env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const proc = new SampleProcess(id, port, child);
    procs.push(proc);
    await proc.waitReady(120_000);
    return proc;
  }

  /** The embedded server's pid, from its pid file. */
  function serverPid(): number {
    return Number(readFileSync(join(workdir, '.data/pg/postmaster.pid'), 'utf8').split('\n')[0]);
  }

  async function stopGroup(proc: SampleProcess, signal: NodeJS.Signals, pgPort: number): Promise<void> {
    const server = serverPid();
    // The database is not in the group the terminal signals: only the app stops it, after its drain.
    expect(groupMembers(proc.pid)).not.toContain(server);
    process.kill(-proc.pid, signal);
    const exit = await proc.exited;
    if (exit.code !== 0) throw new Error(`npm exited with ${JSON.stringify(exit)}\n${proc.output()}`);
    expect(proc.grep(new RegExp(`${signal}: shutting down`))).toHaveLength(1);
    // The running job was aborted and handed back to pending by this instance, not left for lease expiry.
    expect(proc.grep(/1 jobs still running after 1000 ms; aborted them and released 1 to pending/)).toHaveLength(1);
    expect(proc.grep(/lease expired|ECONNREFUSED|terminating connection/)).toEqual([]);
    // The app stopped the server before exiting.
    expect(await listening(pgPort)).toBe(false);
    expect(existsSync(join(workdir, '.data/pg/postmaster.pid'))).toBe(false);
    // pg_ctl returns once the pid file is gone; the postmaster exits right after.
    await waitFor('the server process to exit', () => !alive(server));
  }

  it('drains, releases the running job, stops the database and exits 0 on Ctrl+C, and on SIGTERM', async () => {
    const pgPort = await freePort();
    const first = await npmStart('signals-1', pgPort);
    const { status, body } = await first.request('POST', '/jobs', { type: 'demo.sleep', payload: { ms: 600_000 } });
    expect(status).toBe(201);
    await waitFor(
      'the job to run',
      async () => (await first.request('GET', `/jobs/${body.id}`)).body.status === 'processing',
    );
    await stopGroup(first, 'SIGINT', pgPort);

    // The next start takes the job again at once, its attempt refunded: no lease had to expire (30 s by default).
    const second = await npmStart('signals-2', pgPort);
    const again = await waitFor(
      'the released job to run again on the next start',
      async () => {
        const job = (await second.request('GET', `/jobs/${body.id}`)).body;
        return job.status === 'processing' && job.locked_by === 'signals-2' ? job : null;
      },
      20_000,
    );
    expect(again).toMatchObject({ attempt_count: 1, last_error: null });
    await stopGroup(second, 'SIGTERM', pgPort);
  }, 300_000);
});
