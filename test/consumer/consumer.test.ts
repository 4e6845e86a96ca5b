import { execFile, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { SampleProcess } from '../e2e/support/sample-process';
import { freePort } from '../support/test-database-resolver';
import { query } from '../support/sql';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { waitFor } from '../support/wait-for';

// The package proven from the outside: `npm run pack` builds the tarball, and each variant below is a Nest app with
// its own package.json, installed in a temporary folder from that tarball alone (no path alias, no access to the
// repo's sources, no --legacy-peer-deps, no @types/pg), compiled with `tsc --strict` and `skipLibCheck: false`,
// then started against PostgreSQL. The installs are the slow part: each variant installs once, all at the same time.
const run = promisify(execFile);
const root = join(__dirname, '../..');
const here = __dirname;

interface Variant {
  folder: string;
  /** Terminus and Prometheus installed: the app exposes /health and /metrics. */
  observability: boolean;
}

const VARIANTS: Variant[] = [
  { folder: 'nest11', observability: true }, // Nest 11, CommonJS, TypeScript 5.9
  { folder: 'nest12-esm', observability: true }, // Nest 12, ESM ("type": "module"), TypeScript 6.0
  { folder: 'bare-esm', observability: false }, // Nest 12 ESM, TypeScript 5.9, neither Terminus nor Prometheus
];

let tarball: string;
let work: string;
const prepared = new Map<string, Promise<string>>();

/** Copies the shared app and the variant's own files into a fresh folder, installs the tarball and compiles. */
async function prepare(variant: Variant): Promise<string> {
  const dir = join(work, variant.folder);
  cpSync(join(here, 'app/src'), join(dir, 'src'), { recursive: true });
  if (!variant.observability) {
    cpSync(join(dir, 'src/bare.app.module.ts'), join(dir, 'src/app.module.ts'));
    rmSync(join(dir, 'src/health.controller.ts'));
  }
  rmSync(join(dir, 'src/bare.app.module.ts'));
  cpSync(join(here, variant.folder), dir, { recursive: true });
  cpSync(tarball, join(dir, 'nestjs-pg-job-queue.tgz'));
  const npm = (args: string[]) => run('npm', args, { cwd: dir, maxBuffer: 16 * 1024 * 1024 });
  await npm(['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error']).catch((error) => {
    throw new Error(`npm install in ${variant.folder} failed:\n${error.stdout}\n${error.stderr}`);
  });
  await npm(['run', 'build']).catch((error) => {
    throw new Error(`tsc --strict in ${variant.folder} failed:\n${error.stdout}\n${error.stderr}`);
  });
  return dir;
}

beforeAll(async () => {
  const packed = await run(process.execPath, [join(root, 'scripts/pack.js')], { cwd: root });
  tarball = packed.stdout.trim().split('\n').pop()!;
  work = mkdtempSync(join(tmpdir(), 'job-queue-consumer-'));
  for (const variant of VARIANTS) {
    const ready = prepare(variant);
    ready.catch(() => undefined); // reported by the variant's own test
    prepared.set(variant.folder, ready);
  }
  await Promise.allSettled(prepared.values());
}, 600_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the packed tarball', () => {
  it('holds the compiled library with declarations and source maps, and nothing of the sample app or the tests', async () => {
    expect(readdirSync(join(root, 'dist/package'))).toEqual([basename(tarball)]);
    const { stdout } = await run('tar', ['-tzf', tarball]);
    const files = stdout
      .trim()
      .split('\n')
      .map((f) => f.replace(/^package\//, ''));
    expect(files).toEqual(
      expect.arrayContaining([
        'package.json',
        'README.md',
        'CHANGELOG.md',
        'LICENSE',
        'dist/index.js',
        'dist/index.d.ts',
        'dist/index.js.map',
      ]),
    );
    const outside = files.filter(
      (f) => !/^(package\.json|README\.md|CHANGELOG\.md|LICENSE)$/.test(f) && !/^dist\/.+\.(js|js\.map|d\.ts)$/.test(f),
    );
    expect(outside).toEqual([]);
    expect(files.filter((f) => /\.spec\.|(^|\/)internal\.|(^|\/)(apps|test|bench)\//.test(f))).toEqual([]);
  });
});

describe('the README', () => {
  it("shows the consumer app's module and handler as they are compiled here", () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    for (const file of ['app.module.ts', 'email.jobs.ts', 'signup.controller.ts', 'health.controller.ts', 'main.ts']) {
      expect({ file, inReadme: readme.includes(readFileSync(join(here, 'app/src', file), 'utf8').trim()) }).toEqual({
        file,
        inReadme: true,
      });
    }
  });
});

describe.each(VARIANTS)('a consumer app: $folder', (variant) => {
  let db: TestDatabase;
  let app: SampleProcess | undefined;

  beforeAll(async () => {
    db = await createTestDatabase({ migrate: false });
  });
  afterAll(async () => {
    await app?.kill();
    await db?.drop();
  });

  it('installs from the tarball without @types/pg, compiles strict, migrates, enqueues in a transaction and runs the handler', async () => {
    const dir = await prepared.get(variant.folder)!;
    expect(existsSync(join(dir, 'node_modules/@types/pg'))).toBe(false);
    expect(existsSync(join(dir, 'node_modules/@nestjs/terminus'))).toBe(variant.observability);
    expect(existsSync(join(dir, 'node_modules/prom-client'))).toBe(variant.observability);
    // prom-client brings @opentelemetry/api (its one dependency of note): the bare app runs without the API, the
    // others with it and no SDK registered, so no span is recorded and no trace context stored.
    expect(existsSync(join(dir, 'node_modules/@opentelemetry/api'))).toBe(variant.observability);

    const port = await freePort();
    const child = spawn(process.execPath, ['dist/main.js'], {
      cwd: dir,
      env: { ...process.env, DATABASE_URL: db.url, PORT: String(port), NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    app = new SampleProcess(variant.folder, port, child);
    await waitFor(
      `${variant.folder} listening\n${app.output()}`,
      () => app!.grep(/listening on http/).length > 0 || !app!.alive,
      60_000,
    );
    expect(app.alive).toBe(true);

    const signup = await app.request('POST', '/signups', { email: 'ada@example.com' });
    expect(signup.status).toBe(201);
    expect(signup.body.id).toMatch(/^[0-9a-f-]{36}$/);
    await waitFor(
      'the handler to run',
      async () => (await app!.request('GET', '/signups/welcomed')).body.includes('ada@example.com'),
      30_000,
    );
    // The handler's effect shows before the worker has finished the job (deleted it, counted it): wait for that too.
    const leftOver = async () =>
      (
        await query(
          db.url,
          'SELECT (SELECT count(*) FROM job_queue.jobs)::int AS jobs, (SELECT count(*) FROM job_queue.dead_jobs)::int AS dead',
        )
      )[0];
    await waitFor('the job to be finished', async () => (await leftOver()).jobs === 0, 30_000);

    if (variant.observability) {
      const health = await app.request('GET', '/health');
      expect(health.status).toBe(200);
      expect(health.body.info.job_queue.status).toBe('up');
      await waitFor(
        'the completion to be counted',
        async () => (await app!.metric('job_queue_jobs_completed_total', { type: 'email.send' })) >= 1,
        30_000,
      );
      expect(await app.metric('job_queue_jobs_completed_total', { type: 'email.send' })).toBe(1);
    } else {
      expect((await app.request('GET', '/health')).status).toBe(404);
      expect((await app.request('GET', '/metrics')).status).toBe(404);
    }

    // The job was written by the app's transaction and deleted when its handler completed: nothing is left over.
    expect(await leftOver()).toEqual({ jobs: 0, dead: 0 });

    // With enableShutdownHooks() Nest closes the app (the queue drains) and then re-raises the signal.
    app.signal('SIGTERM');
    expect(await app.exited).toEqual({ code: null, signal: 'SIGTERM' });
  });
});
