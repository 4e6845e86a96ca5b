import { Injectable, Module, type INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { randomBytes } from 'node:crypto';
import { JOB_QUEUE_METRICS as METRIC, JobQueueModule, type JobQueueModuleOptions } from '@app/job-queue';
import { TableVacuumer } from '@app/job-queue/internal';
import { CapturingLogger } from './support/capturing-logger';
import { createTestDatabase, withDatabase, type TestDatabase } from './support/test-database';
import { deadTuples, stateServerSettings } from './support/server-settings';
import { metricSample } from './support/queue-probes';
import { query, withClient } from './support/sql';
import { waitFor } from './support/wait-for';

@Injectable()
class NoHandlers {}

async function startApp(
  options: JobQueueModuleOptions,
  logger = new CapturingLogger(),
): Promise<INestApplicationContext> {
  @Module({ imports: [JobQueueModule.forRoot(options)], providers: [NoHandlers] })
  class AppModule {}
  // abortOnError off: a start that fails fails the test with its error, instead of exiting the test process.
  return NestFactory.createApplicationContext(AppModule, { logger, abortOnError: false });
}

/** Leaves `n` dead tuples in `jobs`: rows inserted, then deleted, by a session that ends (so its statistics are sent). */
async function makeDeadTuples(url: string, n: number): Promise<void> {
  await query(
    url,
    `INSERT INTO job_queue.jobs (type, payload, status, max_attempts) SELECT 'vac.t', '{}', 'pending', 1 FROM generate_series(1, $1::int)`,
    [n],
  );
  await query(url, `DELETE FROM job_queue.jobs WHERE type = 'vac.t'`);
}

const vacuums = (outcome: string) => metricSample(METRIC.vacuums, { table: 'jobs', outcome });

describe('the vacuum of the queue tables (vacuumThreshold)', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase();
    await stateServerSettings(db.url, 'table-vacuum');
    // The server's own autovacuum (on in the embedded servers) would race the queue's VACUUM for these tables: while
    // it holds one, the queue's passes as busy, and a test waiting for the queue's VACUUM waits in vain.
    for (const table of ['jobs', 'rate_windows']) {
      await query(db.url, `ALTER TABLE job_queue.${table} SET (autovacuum_enabled = false)`);
    }
  });

  afterAll(async () => {
    await db?.drop();
  });

  it('vacuums jobs once its dead tuples pass the threshold, under an advisory lock one instance at a time', async () => {
    const options = {
      connectionUrl: db.url,
      concurrency: 0,
      depthSampleIntervalMs: 0,
      vacuumThreshold: 1_000,
      vacuumIntervalMs: 100,
    };
    await makeDeadTuples(db.url, 5_000);
    await waitFor('the dead tuples in the statistics', async () => (await deadTuples(db.url)) >= 5_000);
    const vacuumedBefore = await vacuums('vacuumed');
    const busyBefore = await vacuums('busy');
    // Another instance holds the vacuum lock of `jobs`: this one passes (busy) and the dead tuples stay.
    await withClient(db.url, async (other) => {
      await other.query(`SELECT pg_advisory_lock(736402, hashtext('"job_queue".jobs'))`);
      const app = await startApp(options);
      try {
        await waitFor('a vacuum passed up to the lock holder', async () => (await vacuums('busy')) > busyBefore);
        expect(await deadTuples(db.url)).toBeGreaterThanOrEqual(5_000);
        expect(await vacuums('vacuumed')).toBe(vacuumedBefore);
        await other.query(`SELECT pg_advisory_unlock(736402, hashtext('"job_queue".jobs'))`);
        // Both: the statistics show the VACUUM before the vacuumer counts it (it releases its lock first), and on
        // PostgreSQL 13 the count may come before the statistics.
        await waitFor(
          'the dead tuples vacuumed, and the VACUUM counted',
          async () => (await deadTuples(db.url)) < 1_000 && (await vacuums('vacuumed')) > vacuumedBefore,
        );
      } finally {
        await app.close();
      }
    });
  });

  it('vacuums the small tables the queue rewrites too (here the rate windows of a limited type)', async () => {
    // One row rewritten 3,000 times, as 3,000 limited claims of one type would: 3,000 dead versions of one row.
    await query(db.url, `INSERT INTO job_queue.rate_windows (type, key, starts) VALUES ('vac.rate', '', '{}')`);
    await query(
      db.url,
      `DO $$ BEGIN
         FOR i IN 1..3000 LOOP
           UPDATE job_queue.rate_windows SET starts = ARRAY[now()] WHERE type = 'vac.rate';
         END LOOP;
       END $$`,
    );
    await waitFor('the dead tuples in the statistics', async () => (await deadTuples(db.url, 'rate_windows')) >= 2_000);
    const vacuumed = () => metricSample(METRIC.vacuums, { table: 'rate_windows', outcome: 'vacuumed' });
    const before = await vacuumed();
    const app = await startApp({
      connectionUrl: db.url,
      concurrency: 0,
      depthSampleIntervalMs: 0,
      vacuumThreshold: 1_000,
      vacuumIntervalMs: 100,
    });
    try {
      // Both, as in the test above.
      await waitFor(
        'the rate windows vacuumed, and the VACUUM counted',
        async () => (await deadTuples(db.url, 'rate_windows')) < 1_000 && (await vacuumed()) > before,
      );
    } finally {
      await app.close();
    }
  });

  it('vacuumThreshold: 0 never vacuums', async () => {
    const vacuumCount = async () =>
      (
        await query<{ n: number }>(
          db.url,
          `SELECT vacuum_count::int AS n FROM pg_stat_user_tables WHERE relname = 'jobs' AND schemaname = 'job_queue'`,
        )
      )[0].n;
    const before = await vacuumCount();
    await makeDeadTuples(db.url, 2_000);
    const app = await startApp({
      connectionUrl: db.url,
      concurrency: 0,
      depthSampleIntervalMs: 0,
      vacuumThreshold: 0,
      vacuumIntervalMs: 100,
    });
    try {
      await app.get(TableVacuumer).runOnce();
      await waitFor('the dead tuples in the statistics', async () => (await deadTuples(db.url)) >= 2_000);
    } finally {
      await app.close();
    }
    expect(await vacuumCount()).toBe(before);
    await query(db.url, 'VACUUM job_queue.jobs');
  });

  it('shutdown cancels a VACUUM under way instead of waiting for it', async () => {
    // A VACUUM slowed to a crawl by cost-based delay (this database only): minutes for a few hundred pages.
    await query(db.url, `ALTER DATABASE "${db.name}" SET vacuum_cost_delay = 100`);
    await query(db.url, `ALTER DATABASE "${db.name}" SET vacuum_cost_limit = 1`);
    try {
      await makeDeadTuples(db.url, 20_000);
      await waitFor('the dead tuples in the statistics', async () => (await deadTuples(db.url)) >= 20_000);
      const app = await startApp({
        connectionUrl: db.url,
        concurrency: 0,
        depthSampleIntervalMs: 0,
        vacuumThreshold: 1_000,
        vacuumIntervalMs: 100,
      });
      let closed = false;
      try {
        await waitFor('the VACUUM running', async () => {
          const rows = await query(
            db.url,
            `SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND query LIKE 'VACUUM%' AND state = 'active'`,
            [db.name],
          );
          return rows.length === 1;
        });
      } finally {
        const closing = app.close().then(() => (closed = true));
        await waitFor('the app closed', () => closed, 15_000).finally(() => closing);
      }
      const running = await query(
        db.url,
        `SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND query LIKE 'VACUUM%' AND state = 'active'`,
        [db.name],
      );
      expect(running).toEqual([]);
    } finally {
      await query(db.url, `ALTER DATABASE "${db.name}" RESET vacuum_cost_delay`);
      await query(db.url, `ALTER DATABASE "${db.name}" RESET vacuum_cost_limit`);
      await query(db.url, 'VACUUM job_queue.jobs');
    }
  });

  it('without the privilege to vacuum: logs once, counts it as denied, and stops trying for a while', async () => {
    const role = `jq_novacuum_${randomBytes(4).toString('hex')}`;
    // A password: the embedded servers of the PostgreSQL-versions run ask for one (the machine's trusts).
    await query(db.url, `CREATE ROLE ${role} LOGIN PASSWORD '${role}'`);
    try {
      await query(db.url, `GRANT USAGE ON SCHEMA job_queue TO ${role}`);
      await query(db.url, `GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA job_queue TO ${role}`);
      await makeDeadTuples(db.url, 2_000);
      await waitFor('the dead tuples in the statistics', async () => (await deadTuples(db.url)) >= 2_000);
      const url = new URL(db.url);
      url.username = role;
      url.password = role;
      const logger = new CapturingLogger();
      const deniedBefore = await vacuums('denied');
      // A long interval: this test drives the checks itself.
      const app = await startApp(
        {
          connectionUrl: withDatabase(url.toString(), db.name),
          concurrency: 0,
          depthSampleIntervalMs: 0,
          vacuumThreshold: 1_000,
          vacuumIntervalMs: 3_600_000,
        },
        logger,
      );
      try {
        const vacuumer = app.get(TableVacuumer);
        await vacuumer.runOnce();
        await vacuumer.runOnce();
        await vacuumer.runOnce();
        expect(await vacuums('denied')).toBe(deniedBefore + 1);
        const lines = logger.warnings.filter((w) => w.includes('may not VACUUM'));
        expect(lines).toEqual([
          expect.stringContaining(
            `job_queue.jobs as role "${role}" (it needs to own the table, or on PostgreSQL 17+ the MAINTAIN privilege)`,
          ),
        ]);
        expect(await deadTuples(db.url)).toBeGreaterThanOrEqual(2_000);
      } finally {
        await app.close();
      }
    } finally {
      await query(db.url, `DROP OWNED BY ${role}`);
      await query(db.url, `DROP ROLE ${role}`);
    }
  });
});
