import { Injectable, type INestApplicationContext } from '@nestjs/common';
import { JOB_QUEUE_METRICS as METRIC, JobQueueHealthIndicator } from '@app/job-queue';
import { createTestDatabase, type TestDatabase } from './support/test-database';
import { startTestApp } from './support/test-app';
import { metricSample } from './support/queue-probes';
import { stateServerSettings } from './support/server-settings';
import { query } from './support/sql';
import { waitFor } from './support/wait-for';

const PENDING = 300_000;
const DEAD = 150_000;
/** What one sample plus one health check may read of a table, in 8 kB blocks (heap and index), whatever its size. */
const BLOCK_BUDGET = 1_500;

@Injectable()
class NoHandlers {}

interface TableIo {
  blocks: number;
  pages: number;
}

/** Blocks read or found in cache so far, heap and indexes, and the size in pages, of each queue table. */
async function tableIo(url: string): Promise<Record<string, TableIo>> {
  const rows = await query<{ relname: string; blocks: number; pages: number }>(
    url,
    `SELECT relname, (heap_blks_hit + heap_blks_read + coalesce(idx_blks_hit, 0) + coalesce(idx_blks_read, 0))::float8 AS blocks,
            (pg_relation_size(relid) / 8192)::float8 AS pages
     FROM pg_statio_user_tables WHERE schemaname = 'job_queue'`,
  );
  return Object.fromEntries(rows.map((r) => [r.relname, { blocks: r.blocks, pages: r.pages }]));
}

/**
 * Table statistics once every session that touched the tables has ended and its counts have arrived. Before
 * PostgreSQL 15 a session's counts travel to a collector process asynchronously, after the session is gone: reading
 * them at once may miss them (a read of 0) or catch a late one (the setup's VACUUM counted in the window). So: wait
 * for the other sessions to end, then scan a marker table from a session of our own, and wait until that scan is
 * counted; the collector handles messages in order of arrival, so everything sent before the marker is in too.
 */
async function settledTableIo(db: TestDatabase): Promise<Record<string, TableIo>> {
  await waitFor('no other session in the database', async () => {
    const [row] = await query<{ n: number }>(
      db.url,
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`,
      [db.name],
    );
    return row.n === 0;
  });
  const markerScans = async () =>
    (
      await query<{ n: number }>(
        db.url,
        `SELECT coalesce(seq_scan, 0)::int AS n FROM pg_stat_user_tables WHERE relid = 'public.stats_marker'::regclass`,
      )
    )[0].n;
  const scansBefore = await markerScans();
  await query(db.url, 'SELECT * FROM public.stats_marker');
  await waitFor('the marker scan counted', async () => (await markerScans()) > scansBefore);
  return tableIo(db.url);
}

describe('the depth sampler and the health thresholds with a large backlog', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase();
    await stateServerSettings(db.url, 'depth-sampler-cost');
    // The count is of every read of the tables: keep the server's own vacuum and analyze out of the window.
    await query(db.url, 'ALTER TABLE job_queue.jobs SET (autovacuum_enabled = false)');
    await query(db.url, 'ALTER TABLE job_queue.dead_jobs SET (autovacuum_enabled = false)');
    await query(
      db.url,
      `INSERT INTO job_queue.jobs (type, payload, status, max_attempts, priority, next_retry_at)
       SELECT 'cost.t', '{}', 'pending', 1, g % 3, now() FROM generate_series(1, $1::int) g`,
      [PENDING - 1],
    );
    // The oldest runnable job, an hour old, at a priority of its own.
    await query(
      db.url,
      `INSERT INTO job_queue.jobs (type, payload, status, max_attempts, priority, next_retry_at)
       VALUES ('cost.t', '{}', 'pending', 1, 7, now() - interval '1 hour')`,
    );
    await query(
      db.url,
      `INSERT INTO job_queue.dead_jobs (id, queue, type, payload, priority, failure_reason, attempt_count, max_attempts, created_at, snapshot)
       SELECT gen_random_uuid(), 'default', 'cost.t', '{}', 0, 'boom', 1, 1, now(), '{}' FROM generate_series(1, $1::int)`,
      [DEAD],
    );
    await query(db.url, 'VACUUM ANALYZE job_queue.jobs');
    await query(db.url, 'VACUUM ANALYZE job_queue.dead_jobs');
    await query(db.url, 'CREATE TABLE public.stats_marker (id int)');
  }, 120_000);

  afterAll(async () => {
    await db?.drop();
  });

  it('read a bounded number of blocks of each table, never the whole backlog, and stay up', async () => {
    const before = await settledTableIo(db);
    // Bigger than the budget, so that a count of every row could not pass.
    expect(before.jobs.pages).toBeGreaterThan(2 * BLOCK_BUDGET);
    expect(before.dead_jobs.pages).toBeGreaterThan(BLOCK_BUDGET);

    let app: INestApplicationContext | undefined;
    try {
      // The sampler runs once at start; a long interval keeps it to that one run. Nothing else reads the tables.
      app = await startTestApp(
        {
          connectionUrl: db.url,
          concurrency: 0,
          depthSampleIntervalMs: 3_600_000,
          recoveryIntervalMs: 3_600_000,
          vacuumThreshold: 0,
        },
        [NoHandlers],
      );
      await app.init();
      // The oldest-pending gauge is the sample's last step.
      const oldest = await waitFor('the sample', async () => metricSample(METRIC.oldestPendingAge, {}));
      const pending = await metricSample(METRIC.depth, { queue: 'default', status: 'pending' });
      const dead = await metricSample(METRIC.depth, { queue: 'default', status: 'dead' });
      // Estimates from a sample of pages, exact for the oldest job.
      expect(pending).toBeGreaterThan(PENDING * 0.8);
      expect(pending).toBeLessThan(PENDING * 1.2);
      expect(dead).toBeGreaterThan(DEAD * 0.8);
      expect(dead).toBeLessThan(DEAD * 1.2);
      expect(oldest).toBeGreaterThanOrEqual(3_600);
      expect(oldest).toBeLessThan(3_600 + 600);

      const health = app.get(JobQueueHealthIndicator);
      expect(await health.isHealthy('job_queue', { maxBacklogAgeMs: 86_400_000 })).toMatchObject({
        job_queue: { status: 'up' },
      });
      expect(await health.isHealthy('job_queue', { maxBacklogAgeMs: 60_000 })).toMatchObject({
        job_queue: { status: 'down', message: expect.stringMatching(/^the oldest pending job has waited \d+ ms$/) },
      });
      expect(await health.isHealthy('job_queue', { maxDeadJobs: 1_000 })).toMatchObject({
        job_queue: {
          status: 'down',
          dead: expect.any(Number),
          message: expect.stringMatching(/^\d+ dead jobs \(threshold 1000\)$/),
        },
      });
    } finally {
      await app?.close();
    }
    const after = await settledTableIo(db);
    const read = {
      jobs: after.jobs.blocks - before.jobs.blocks,
      dead_jobs: after.dead_jobs.blocks - before.dead_jobs.blocks,
    };
    process.stdout.write(
      `depth-sampler-cost: blocks read ${JSON.stringify(read)} of tables of ${before.jobs.pages} and ${before.dead_jobs.pages} pages\n`,
    );
    // The sample and the health checks read something of each table: a count of 0 would mean the statistics missed
    // them, and the bound below would prove nothing.
    expect(read.jobs).toBeGreaterThan(0);
    expect(read.dead_jobs).toBeGreaterThan(0);
    expect(read.jobs).toBeLessThan(BLOCK_BUDGET);
    expect(read.dead_jobs).toBeLessThan(BLOCK_BUDGET);
  });
});
