import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DataSource } from 'typeorm';
import { runJobQueueMigrations } from '@app/job-queue';
import { createTestDatabase, type TestDatabase } from './support/test-database';
import { query } from './support/sql';

const run = promisify(execFile);
const root = join(__dirname, '..');

async function tables(url: string, schema: string): Promise<string[]> {
  const rows = await query<{ t: string }>(url, `SELECT tablename AS t FROM pg_tables WHERE schemaname = $1 ORDER BY 1`, [schema]);
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
    await run('npm', ['run', '--silent', 'migration:run'], { cwd: root, env: { ...process.env, DATABASE_URL: db.url } });
    expect(await tables(db.url, 'job_queue')).toEqual(['dead_jobs', 'jobs']);
    expect(await tables(db.url, 'sample')).toEqual(['effects']);
    expect(await runJobQueueMigrations(await dataSource(db.url), 'job_queue')).toEqual([]);
  }, 60_000);

  it('run once when many instances start at the same moment', async () => {
    const db = await fresh();
    const instances = await Promise.all(Array.from({ length: 6 }, () => dataSource(db.url)));
    const ran = await Promise.all(instances.map((ds) => runJobQueueMigrations(ds, 'job_queue')));
    expect(ran.flat()).toEqual(['CreateJobQueueTables1764288000000']);
    expect(await query(db.url, 'SELECT name FROM migrations')).toEqual([{ name: 'CreateJobQueueTables1764288000000' }]);
  });

  it('migrate a second schema of their own in the same database', async () => {
    const db = await fresh();
    const ds = await dataSource(db.url);
    await runJobQueueMigrations(ds, 'job_queue');
    expect(await runJobQueueMigrations(ds, 'billing_jobs')).toEqual(['CreateJobQueueTables_billing_jobs_1764288000000']);
    expect(await tables(db.url, 'billing_jobs')).toEqual(['dead_jobs', 'jobs']);
  });

  it('create the claim, rescue and idempotency indexes and tune autovacuum for a high-churn table', async () => {
    const db = await fresh();
    await runJobQueueMigrations(await dataSource(db.url), 'job_queue');
    const indexes = await query<{ indexname: string; indexdef: string }>(
      db.url,
      `SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'job_queue' AND tablename = 'jobs' ORDER BY 1`,
    );
    const byName = Object.fromEntries(indexes.map((i) => [i.indexname, i.indexdef]));
    expect(byName.jobs_claim_idx).toContain('(priority DESC, next_retry_at, created_at) WHERE (status = \'pending\'::text)');
    expect(byName.jobs_rescue_idx).toContain('(locked_at) WHERE (status = \'processing\'::text)');
    expect(byName.jobs_idempotency_key_idx).toContain('UNIQUE INDEX');
    const [{ reloptions }] = await query<{ reloptions: string[] }>(
      db.url,
      `SELECT reloptions FROM pg_class WHERE oid = 'job_queue.jobs'::regclass`,
    );
    expect(reloptions).toEqual(expect.arrayContaining(['autovacuum_vacuum_scale_factor=0.01', 'autovacuum_vacuum_cost_delay=0']));
  });
});
