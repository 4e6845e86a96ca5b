import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../support/test-database-resolver';
import { waitFor } from '../support/wait-for';
import { SAMPLE_BUNDLE, ensureSampleBuilt } from './support/sample-build';
import { SampleProcess } from './support/sample-process';

/** Command lines of running processes that mention `text` (a postgres server started on that data folder). */
function processesMentioning(text: string): string[] {
  return execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })
    .split('\n')
    .filter((line) => line.includes(text));
}

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

describe('e2e: the sample app with no DATABASE_URL (embedded PostgreSQL)', () => {
  let workdir: string;
  const procs: SampleProcess[] = [];

  beforeAll(() => {
    ensureSampleBuilt();
    // The app keeps its cluster in ./.data of its working folder; PostgreSQL runs as the postgres user when
    // the tests run as root, so the folder must be reachable by that user.
    workdir = mkdtempSync(join(tmpdir(), 'job-queue-embedded-'));
    chmodSync(workdir, 0o755);
  });

  afterAll(async () => {
    for (const proc of procs) if (proc.alive) await proc.kill();
    rmSync(workdir, { recursive: true, force: true });
  });

  async function start(id: string, pgPort: number): Promise<SampleProcess> {
    const port = await freePort();
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      NO_COLOR: '1',
      PORT: String(port),
      EMBEDDED_PG_PORT: String(pgPort),
    };
    const child = spawn(process.execPath, [SAMPLE_BUNDLE], { cwd: workdir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const proc = new SampleProcess(id, port, child);
    procs.push(proc);
    await proc.waitReady(90_000);
    return proc;
  }

  async function stop(proc: SampleProcess): Promise<void> {
    proc.signal('SIGTERM');
    expect(await proc.exited).toEqual({ code: 0, signal: null });
  }

  it('starts its own PostgreSQL, runs a job, stops it on SIGTERM, and reuses the data on the next start', async () => {
    const pgPort = await freePort();
    const first = await start('embedded-1', pgPort);
    expect(first.grep(/Connect with: psql postgres:\/\/postgres:postgres@127\.0\.0\.1:\d+\/postgres/)).toHaveLength(1);

    const { status, body } = await first.request('POST', '/jobs', { type: 'demo.noop', payload: {} });
    expect(status).toBe(201);
    await waitFor(
      'the job to run and leave the queue',
      async () => (await first.request('GET', `/jobs/${body.id}`)).status === 404,
    );
    const later = await first.request('POST', '/jobs', { type: 'demo.noop', payload: {}, delayMs: 3_600_000 });
    expect(later.status).toBe(201);

    await stop(first);
    // The server went with the app: nothing listens on its port and its pid file is gone.
    expect(await listening(pgPort)).toBe(false);
    expect(existsSync(join(workdir, '.data/pg/postmaster.pid'))).toBe(false);
    expect(processesMentioning(workdir)).toEqual([]);

    const second = await start('embedded-2', pgPort);
    const kept = await second.request('GET', `/jobs/${later.body.id}`);
    expect(kept).toMatchObject({ status: 200, body: { id: later.body.id, status: 'pending' } });
    await stop(second);
    expect(await listening(pgPort)).toBe(false);
    expect(processesMentioning(workdir)).toEqual([]);
  }, 180_000);
});
