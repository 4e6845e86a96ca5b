import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DataSource } from 'typeorm';
import { createJobQueueMigrations, runJobQueueMigrations } from '@app/job-queue';
import { JOB_QUEUE_MIGRATION_CHAIN, migrationName } from '@app/job-queue/internal';
import { createTestDatabase, type TestDatabase } from './support/test-database';
import { query } from './support/sql';

const run = promisify(execFile);
const root = join(__dirname, '..');

/** Every step's recorded name in a schema, in chain order. */
const chainNames = (schema: string) => JOB_QUEUE_MIGRATION_CHAIN.map((step) => migrationName(step, schema));

const QUEUE_TABLES = ['dead_jobs', 'finished_jobs', 'jobs', 'queues', 'schema_versions', 'workers'];

async function versions(
  url: string,
  schema: string,
): Promise<Array<{ version: number; name: string; additive: boolean }>> {
  return query(url, `SELECT version, name, additive FROM "${schema}".schema_versions ORDER BY version`);
}

async function tables(url: string, schema: string): Promise<string[]> {
  const rows = await query<{ t: string }>(
    url,
    `SELECT tablename AS t FROM pg_tables WHERE schemaname = $1 ORDER BY 1`,
    [schema],
  );
  return rows.map((r) => r.t);
}

describe('migrations', () => {
  const databases: TestDatabase[] = [];
  const sources: DataSource[] = [];

  async function fresh(): Promise<TestDatabase> {
    const db = await createTestDatabase({ migrate: false });
    databases.push(db);
    return db;
  }

  async function dataSource(url: string): Promise<DataSource> {
    const ds = new DataSource({ type: 'postgres', url, extra: { max: 2 } });
    sources.push(await ds.initialize());
    return ds;
  }

  afterAll(async () => {
    await Promise.all(sources.map((s) => s.destroy()));
    await Promise.all(databases.map((d) => d.drop()));
  });

  it('run through the TypeORM CLI (npm run migration:run), and the start-up runner agrees about what ran', async () => {
    const db = await fresh();
    await run('npm', ['run', '--silent', 'migration:run'], {
      cwd: root,
      env: { ...process.env, DATABASE_URL: db.url },
    });
    expect(await tables(db.url, 'job_queue')).toEqual(QUEUE_TABLES);
    expect(await tables(db.url, 'sample')).toEqual(['effects']);
    expect((await versions(db.url, 'job_queue')).map((v) => v.name)).toEqual(chainNames('job_queue'));
    expect(await runJobQueueMigrations(await dataSource(db.url), 'job_queue')).toEqual([]);
  }, 60_000);

  it("run through the TypeORM CLI from the data-source.ts that docs/operations.md shows a user's app", async () => {
    const db = await fresh();
    const docs = readFileSync(join(root, 'docs/operations.md'), 'utf8');
    const block = /```ts\n( *)\/\/ data-source\.ts[^\n]*\n([\s\S]*?)\n *```/.exec(docs);
    expect(block).not.toBeNull();
    const indent = new RegExp(`^${block![1]}`, 'gm');
    // The example imports the published package; here that is the library's source.
    const source = block![2]
      .replace(indent, '')
      .replace(/from '[^']*job-queue[^']*'/, `from '${join(root, 'libs/job-queue/src')}'`);
    expect(source).toContain('createJobQueueMigrations');
    const file = join(root, 'dist/doc-examples/data-source.ts');
    mkdirSync(join(file, '..'), { recursive: true });
    writeFileSync(file, source);
    await run('npx', ['typeorm-ts-node-commonjs', 'migration:run', '-d', file], {
      cwd: root,
      env: { ...process.env, DATABASE_URL: db.url },
    });
    expect(await tables(db.url, 'job_queue')).toEqual(QUEUE_TABLES);
    expect(
      (await query<{ name: string }>(db.url, 'SELECT name FROM migrations ORDER BY id')).map((r) => r.name),
    ).toEqual(chainNames('job_queue'));
    expect(await runJobQueueMigrations(await dataSource(db.url), 'job_queue')).toEqual([]);
  }, 60_000);

  it("apply each step once, in order, recording it in TypeORM's table and in the schema; each step has a down", async () => {
    const db = await fresh();
    const ds = new DataSource({
      type: 'postgres',
      url: db.url,
      extra: { max: 2 },
      migrations: createJobQueueMigrations('job_queue'),
    });
    sources.push(await ds.initialize());
    // TypeORM's own runner (what the CLI and migrationsRun use), one transaction per step.
    const ran = await ds.runMigrations({ transaction: 'each' });
    expect(ran.map((m) => m.name)).toEqual(chainNames('job_queue'));
    expect(await versions(db.url, 'job_queue')).toEqual(
      JOB_QUEUE_MIGRATION_CHAIN.map((step) => ({
        version: step.version,
        name: migrationName(step, 'job_queue'),
        additive: step.additive,
      })),
    );
    // Down, one step at a time, newest first: each forgets its version; the first leaves nothing behind.
    for (let i = JOB_QUEUE_MIGRATION_CHAIN.length - 1; i >= 0; i--) {
      await ds.undoLastMigration({ transaction: 'each' });
      if (i > 0)
        expect((await versions(db.url, 'job_queue')).map((v) => v.version)).toEqual(
          JOB_QUEUE_MIGRATION_CHAIN.slice(0, i).map((s) => s.version),
        );
    }
    expect(await tables(db.url, 'job_queue')).toEqual([]);
    expect(await query(db.url, 'SELECT name FROM migrations')).toEqual([]);
    // And up again, through the start-up runner.
    expect(await runJobQueueMigrations(ds, 'job_queue')).toEqual(chainNames('job_queue'));
    expect(await tables(db.url, 'job_queue')).toEqual(QUEUE_TABLES);
  });

  it('step by step, each down undoes its own step only', async () => {
    const db = await fresh();
    const ds = new DataSource({
      type: 'postgres',
      url: db.url,
      extra: { max: 2 },
      migrations: createJobQueueMigrations('job_queue'),
    });
    sources.push(await ds.initialize());
    await ds.runMigrations();
    await ds.undoLastMigration();
    expect(await tables(db.url, 'job_queue')).toEqual(['dead_jobs', 'jobs', 'schema_versions', 'workers']);
    await ds.undoLastMigration();
    expect(await tables(db.url, 'job_queue')).toEqual(['dead_jobs', 'jobs', 'schema_versions']);
  });

  it('run once when many instances start at the same moment', async () => {
    const db = await fresh();
    const instances = await Promise.all(Array.from({ length: 6 }, () => dataSource(db.url)));
    const ran = await Promise.all(instances.map((ds) => runJobQueueMigrations(ds, 'job_queue')));
    expect(ran.flat().sort()).toEqual([...chainNames('job_queue')].sort());
    expect(await query(db.url, 'SELECT name FROM migrations ORDER BY id')).toEqual(
      chainNames('job_queue').map((name) => ({ name })),
    );
  });

  it('migrate a second schema of their own in the same database', async () => {
    const db = await fresh();
    const ds = await dataSource(db.url);
    await runJobQueueMigrations(ds, 'job_queue');
    expect(await runJobQueueMigrations(ds, 'billing_jobs')).toEqual(chainNames('billing_jobs'));
    expect(chainNames('billing_jobs')[0]).toBe('CreateJobQueueTables_billing_jobs_1764288000000');
    expect(await tables(db.url, 'billing_jobs')).toEqual(QUEUE_TABLES);
    expect((await versions(db.url, 'billing_jobs')).map((v) => v.name)).toEqual(chainNames('billing_jobs'));
  });

  it('create the claim, rescue and idempotency indexes and tune autovacuum for a high-churn table', async () => {
    const db = await fresh();
    await runJobQueueMigrations(await dataSource(db.url), 'job_queue');
    const indexes = await query<{ indexname: string; indexdef: string }>(
      db.url,
      `SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'job_queue' AND tablename = 'jobs' ORDER BY 1`,
    );
    const byName = Object.fromEntries(indexes.map((i) => [i.indexname, i.indexdef]));
    expect(byName.jobs_available_idx).toContain(
      "(queue, type, priority DESC, next_retry_at, created_at, id) WHERE (status = 'pending'::text)",
    );
    expect(byName.jobs_claim_idx).toBeUndefined();
    expect(byName.jobs_rescue_idx).toContain("(locked_at) WHERE (status = 'processing'::text)");
    expect(byName.jobs_idempotency_key_idx).toContain('UNIQUE INDEX');
    const [{ reloptions }] = await query<{ reloptions: string[] }>(
      db.url,
      `SELECT reloptions FROM pg_class WHERE oid = 'job_queue.jobs'::regclass`,
    );
    expect(reloptions).toEqual(
      expect.arrayContaining(['autovacuum_vacuum_scale_factor=0.01', 'autovacuum_vacuum_cost_delay=0']),
    );
  });
});
