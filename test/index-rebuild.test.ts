import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { JOB_QUEUE_METRICS as METRIC, JobQueueModule, type JobQueueModuleOptions } from '@app/job-queue';
import { BLOAT_EVENT_FACTOR, REBUILD_MAX_HORIZON_AGE_MS, TableVacuumer } from '@app/job-queue/internal';
import { CapturingLogger } from './support/capturing-logger';
import { randomBytes } from 'node:crypto';
import { createTestDatabase, withDatabase, type TestDatabase } from './support/test-database';
import { deadTuples, stateServerSettings } from './support/server-settings';
import { metricSample } from './support/queue-probes';
import { query, withClient } from './support/sql';
import { waitFor } from './support/wait-for';

@Injectable()
class NoHandlers {}

async function startApp(options: JobQueueModuleOptions, logger = new CapturingLogger()) {
  @Module({ imports: [JobQueueModule.forRoot(options)], providers: [NoHandlers] })
  class AppModule {}
  return NestFactory.createApplicationContext(AppModule, { logger, abortOnError: false });
}

const THRESHOLD = 1_000;
const appOptions = (url: string): JobQueueModuleOptions => ({
  connectionUrl: url,
  concurrency: 0,
  depthSampleIntervalMs: 0,
  vacuumThreshold: THRESHOLD,
  vacuumIntervalMs: 100,
  rebuildBloatedIndexes: true,
});

/** `n` jobs inserted (each with an idempotency key, so that every index of `jobs` gets entries), then deleted. */
async function churn(url: string, n: number): Promise<void> {
  await query(
    url,
    `INSERT INTO job_queue.jobs (type, payload, status, max_attempts, idempotency_key)
     SELECT 'rebuild.t', '{}', 'pending', 1, 'k-' || g || '-' || gen_random_uuid() FROM generate_series(1, $1::int) g`,
    [n],
  );
  await query(url, `DELETE FROM job_queue.jobs WHERE type = 'rebuild.t'`);
}

/** The indexes of `jobs`: name, oid (a rebuild gives a new one), validity; and their total size. */
async function jobsIndexes(url: string) {
  const rows = await query<{ name: string; oid: number; valid: boolean; definition: string }>(
    url,
    `SELECT c.relname AS name, c.oid::int AS oid, i.indisvalid AS valid, pg_get_indexdef(c.oid) AS definition
     FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
     WHERE i.indrelid = 'job_queue.jobs'::regclass ORDER BY c.relname`,
  );
  const [{ bytes }] = await query<{ bytes: number }>(url, `SELECT pg_indexes_size('job_queue.jobs')::float8 AS bytes`);
  return { rows, bytes };
}

const rebuilds = (outcome: string) => metricSample(METRIC.indexRebuilds, { table: 'jobs', outcome });

describe('the rebuild of bloated indexes (rebuildBloatedIndexes)', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase();
    await stateServerSettings(db.url, 'index-rebuild');
    // The server's autovacuum (on in the embedded servers) would race the queue's VACUUM for the table.
    await query(db.url, `ALTER TABLE job_queue.jobs SET (autovacuum_enabled = false)`);
  });

  afterAll(async () => {
    await db?.drop();
  });

  it('after a long transaction held the horizon through churn, rebuilds the indexes back to their steady size', async () => {
    // The queue's VACUUMs slowed by a cost delay (the sessions the app opens take it): one runs through several
    // rounds of the churn below, as on a busy server.
    await query(db.url, `ALTER DATABASE ${db.name} SET vacuum_cost_delay = '20ms'`);
    const logger = new CapturingLogger();
    const app = await startApp(appOptions(db.url), logger);
    try {
      const before = await jobsIndexes(db.url);
      const rebuiltBefore = await rebuilds('rebuilt');
      await withClient(db.url, async (holder) => {
        // A snapshot held open, as an idle-in-transaction session holds one: no VACUUM may remove what it may see.
        // Long: older than a rebuild would wait for (before that, a rebuild may run, and does no harm).
        await holder.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
        const [{ pid }] = (await holder.query('SELECT pg_backend_pid() AS pid')).rows;
        await waitFor(
          'the transaction older than a rebuild waits for',
          async () =>
            (
              await query<{ old: boolean }>(
                db.url,
                `SELECT now() - xact_start > $2 * interval '1 ms' AS old FROM pg_stat_activity WHERE pid = $1`,
                [pid, REBUILD_MAX_HORIZON_AGE_MS],
              )
            )[0].old,
          30_000,
        );
        for (let round = 0; round < 4; round++) await churn(db.url, 15_000);
        // Enough dead tuples for the VACUUM after the transaction to mark the table; not all 60,000: a VACUUM that
        // ends during the churn reports the count it saw, dropping the deletes counted while it ran, and no VACUUM
        // runs again to count them while the same transaction holds the horizon.
        await waitFor(
          'the dead tuples in the statistics',
          async () => (await deadTuples(db.url)) >= BLOAT_EVENT_FACTOR * THRESHOLD,
        );
        const vacuumsHeld = () => metricSample(METRIC.vacuums, { table: 'jobs', outcome: 'horizon_held' });
        const held = await vacuumsHeld();
        await waitFor('a vacuum held back by the transaction', async () => (await vacuumsHeld()) > held);
        expect((await jobsIndexes(db.url)).bytes).toBeGreaterThan(10 * before.bytes);
        expect(await rebuilds('rebuilt')).toBe(rebuiltBefore);
        await holder.query('COMMIT');
      });
      const bloatedBytes = (await jobsIndexes(db.url)).bytes;
      await waitFor(
        'the indexes back to their size before',
        async () => (await jobsIndexes(db.url)).bytes <= Math.max(2 * before.bytes, bloatedBytes / 20),
        60_000,
      );
      const after = await jobsIndexes(db.url);
      // The same indexes, all valid, with the same definitions; the bloated ones are new (a rebuild's new oid).
      expect(after.rows.map(({ name, valid, definition }) => ({ name, valid, definition }))).toEqual(
        before.rows.map(({ name, valid, definition }) => ({ name, valid, definition })),
      );
      const renewed = after.rows.filter((r) => r.oid !== before.rows.find((b) => b.name === r.name)!.oid);
      expect(renewed.map((r) => r.name)).toEqual(expect.arrayContaining(['jobs_idempotency_key_idx', 'jobs_pkey']));
      expect(await rebuilds('rebuilt')).toBe(rebuiltBefore + renewed.length);
      expect(logger.logs.filter((l) => l.includes('Rebuilt the bloated index job_queue.jobs_pkey'))).toHaveLength(1);
      // The rebuilt unique index still refuses a duplicate key.
      await query(
        db.url,
        `INSERT INTO job_queue.jobs (type, payload, status, max_attempts, idempotency_key) VALUES ('rebuild.u', '{}', 'pending', 1, 'same')`,
      );
      await expect(
        query(
          db.url,
          `INSERT INTO job_queue.jobs (type, payload, status, max_attempts, idempotency_key) VALUES ('rebuild.u', '{}', 'pending', 1, 'same')`,
        ),
      ).rejects.toMatchObject({ code: '23505' });
      await query(db.url, `DELETE FROM job_queue.jobs WHERE type = 'rebuild.u'`);
    } finally {
      await app.close();
      await query(db.url, `ALTER DATABASE ${db.name} RESET vacuum_cost_delay`);
    }
  });

  it('never rebuilds under steady churn, which the vacuum keeps below four times its threshold', async () => {
    // A long interval: this test drives the checks itself. With the 100 ms interval a VACUUM started on statistics
    // PostgreSQL 13 had not yet brought up to date could end during the next round's churn, the round would count as
    // vacuumed while its dead tuples stayed, and two rounds would reach the vacuum together: not steady churn.
    const app = await startApp({ ...appOptions(db.url), vacuumIntervalMs: 3_600_000 });
    try {
      const vacuumer = app.get(TableVacuumer);
      const vacuumed = () => metricSample(METRIC.vacuums, { table: 'jobs', outcome: 'vacuumed' });
      const before = await jobsIndexes(db.url);
      const rebuiltBefore = await rebuilds('rebuilt');
      for (let round = 0; round < 5; round++) {
        await churn(db.url, 2 * THRESHOLD);
        await waitFor('the dead tuples in the statistics', async () => (await deadTuples(db.url)) >= 2 * THRESHOLD);
        const vacuumsBefore = await vacuumed();
        // Again until the statistics show the table vacuumed: a VACUUM that another session's snapshot held back
        // leaves the dead tuples for the next one, as the interval would.
        await waitFor('the churn vacuumed', async () => {
          await vacuumer.runOnce();
          return (await deadTuples(db.url)) < THRESHOLD;
        });
        expect(await vacuumed()).toBeGreaterThan(vacuumsBefore);
      }
      expect(await rebuilds('rebuilt')).toBe(rebuiltBefore);
      expect((await jobsIndexes(db.url)).rows).toEqual(before.rows);
    } finally {
      await app.close();
    }
  });

  it("drops the invalid leftovers of a rebuild that failed, and leaves an invalid index of the user's alone", async () => {
    // A failed CREATE INDEX CONCURRENTLY leaves an invalid index, as a rebuild cancelled half-way leaves its `_ccnew`.
    await query(
      db.url,
      `INSERT INTO job_queue.jobs (type, payload, status, max_attempts) VALUES ('dup', '{}', 'pending', 1), ('dup', '{}', 'pending', 1)`,
    );
    for (const name of ['jobs_available_idx_ccnew', 'users_own_idx']) {
      await expect(
        query(db.url, `CREATE UNIQUE INDEX CONCURRENTLY ${name} ON job_queue.jobs (type)`),
      ).rejects.toMatchObject({ code: '23505' });
    }
    await query(db.url, `DELETE FROM job_queue.jobs WHERE type = 'dup'`);
    const invalid = async () => (await jobsIndexes(db.url)).rows.filter((r) => !r.valid).map((r) => r.name);
    expect(await invalid()).toEqual(['jobs_available_idx_ccnew', 'users_own_idx']);
    const leftover = (await jobsIndexes(db.url)).rows.find((r) => r.name === 'jobs_available_idx_ccnew')!.oid;
    const droppedBefore = await rebuilds('dropped');
    const app = await startApp(appOptions(db.url));
    try {
      // The dead tuples of a mass delete, beyond four times the threshold: the VACUUM that removes them marks the table.
      // Again while the leftover stays: a VACUUM already under way when the delete is counted reports its own, lower
      // count when it ends (PostgreSQL 13's statistics), and then no VACUUM sees the delete's.
      // The leftover is known by its oid: the round that drops it then rebuilds the bloated indexes, and a rebuild of
      // `jobs_available_idx` under way has a `jobs_available_idx_ccnew` of its own, invalid until it is done.
      await waitFor('the leftover dropped', async () => {
        if (!(await jobsIndexes(db.url)).rows.some((r) => r.oid === leftover)) return true;
        await churn(db.url, 5 * THRESHOLD);
        return false;
      });
      expect((await jobsIndexes(db.url)).rows.filter((r) => r.name === 'users_own_idx')).toEqual([
        expect.objectContaining({ valid: false }),
      ]);
      // Counted when the round ends, after the rebuilds that follow the drop.
      await waitFor('the drop counted', async () => (await rebuilds('dropped')) > droppedBefore);
      expect(await rebuilds('dropped')).toBe(droppedBefore + 1);
    } finally {
      await app.close();
      // Shutdown cancels a rebuild under way, which leaves its `_ccnew` behind: the next test starts with none.
      for (const { name } of (await jobsIndexes(db.url)).rows.filter((r) => !r.valid)) {
        await query(db.url, `DROP INDEX job_queue."${name}"`);
      }
    }
  });

  it('drops at start the leftover of a rebuild cancelled at shutdown, though no table is marked', async () => {
    // A REINDEX CONCURRENTLY cancelled as shutdown cancels it, past its build: its `_ccnew` is then ready (updated on
    // every write of the table) and invalid. A snapshot older than the rebuild holds it in its last wait (for the
    // snapshots older than its validation) long enough to cancel it there.
    const leftover = await withClient(db.url, async (holder) => {
      await holder.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
      await holder.query('SELECT 1');
      return withClient(db.url, async (rebuilder) => {
        const [{ pid }] = (await rebuilder.query('SELECT pg_backend_pid() AS pid')).rows;
        const rebuild = rebuilder.query('REINDEX INDEX CONCURRENTLY job_queue.jobs_rescue_idx').then(
          () => 'finished',
          (error: { code?: string }) => error.code,
        );
        await waitFor(
          'the rebuild waiting for the older snapshot, its new index built',
          async () =>
            (
              await query<{ phase: string }>(db.url, 'SELECT phase FROM pg_stat_progress_create_index WHERE pid = $1', [
                pid,
              ])
            )[0]?.phase === 'waiting for old snapshots',
          30_000,
        );
        await query(db.url, 'SELECT pg_cancel_backend($1)', [pid]);
        expect(await rebuild).toBe('57014');
        await holder.query('COMMIT');
        const [row] = await query<{ oid: number; valid: boolean; ready: boolean }>(
          db.url,
          `SELECT i.indexrelid::int AS oid, i.indisvalid AS valid, i.indisready AS ready
           FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
           WHERE i.indrelid = 'job_queue.jobs'::regclass AND c.relname = 'jobs_rescue_idx_ccnew'`,
        );
        return row;
      });
    });
    expect(leftover).toMatchObject({ valid: false, ready: true });
    const droppedBefore = await rebuilds('dropped');
    const logger = new CapturingLogger();
    // No VACUUM that could mark the table: only the leftover itself may bring the drop.
    const app = await startApp({ ...appOptions(db.url), vacuumThreshold: 2_000_000_000 }, logger);
    try {
      await waitFor(
        'the leftover dropped',
        async () => !(await jobsIndexes(db.url)).rows.some((r) => r.oid === leftover.oid),
        30_000,
      );
      expect((await jobsIndexes(db.url)).rows.filter((r) => !r.valid)).toEqual([]);
      expect((await jobsIndexes(db.url)).rows.map((r) => r.name)).toContain('jobs_rescue_idx');
      await waitFor('the drop counted', async () => (await rebuilds('dropped')) > droppedBefore);
      expect(await rebuilds('dropped')).toBe(droppedBefore + 1);
      expect(logger.logs.filter((l) => l.includes('Dropped job_queue.jobs_rescue_idx_ccnew'))).toHaveLength(1);
    } finally {
      await app.close();
    }
  });

  it("leaves alone the new index of a rebuild under way, an operator's REINDEX CONCURRENTLY", async () => {
    const app = await startApp({ ...appOptions(db.url), vacuumIntervalMs: 3_600_000 });
    try {
      const vacuumer = app.get(TableVacuumer);
      const busyBefore = await rebuilds('busy');
      const outcome = await withClient(db.url, async (holder) => {
        // An older snapshot holds the rebuild in its last wait, its `_ccnew` built and invalid.
        await holder.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
        await holder.query('SELECT 1');
        return withClient(db.url, async (operator) => {
          const [{ pid }] = (await operator.query('SELECT pg_backend_pid() AS pid')).rows;
          const rebuild = operator.query('REINDEX INDEX CONCURRENTLY job_queue.jobs_rescue_idx').then(
            () => 'finished',
            (error: { code?: string }) => error.code,
          );
          await waitFor(
            'the rebuild waiting for the older snapshot',
            async () =>
              (
                await query<{ phase: string }>(
                  db.url,
                  'SELECT phase FROM pg_stat_progress_create_index WHERE pid = $1',
                  [pid],
                )
              )[0]?.phase === 'waiting for old snapshots',
            30_000,
          );
          for (let check = 0; check < 2; check++) await vacuumer.runOnce();
          expect((await jobsIndexes(db.url)).rows.filter((r) => !r.valid).map((r) => r.name)).toEqual([
            'jobs_rescue_idx_ccnew',
          ]);
          await holder.query('COMMIT');
          return rebuild;
        });
      });
      expect(outcome).toBe('finished');
      expect(await rebuilds('busy')).toBe(busyBefore);
      expect((await jobsIndexes(db.url)).rows.filter((r) => !r.valid)).toEqual([]);
    } finally {
      await app.close();
    }
  });

  it('as a role that may vacuum but not rebuild (the database owner): logs once, counts it as denied', async () => {
    const role = `jq_noreindex_${randomBytes(4).toString('hex')}`;
    // A password: the embedded servers of the PostgreSQL-versions run ask for one (the machine's trusts).
    await query(db.url, `CREATE ROLE ${role} LOGIN PASSWORD '${role}'`);
    await query(db.url, `ALTER DATABASE ${db.name} OWNER TO ${role}`);
    try {
      await query(db.url, `GRANT USAGE ON SCHEMA job_queue TO ${role}`);
      await query(db.url, `GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA job_queue TO ${role}`);
      const url = new URL(db.url);
      url.username = role;
      url.password = role;
      const logger = new CapturingLogger();
      const deniedBefore = await rebuilds('denied');
      // A long interval: this test drives the checks itself.
      const app = await startApp(
        { ...appOptions(withDatabase(url.toString(), db.name)), vacuumIntervalMs: 3_600_000 },
        logger,
      );
      try {
        const vacuumer = app.get(TableVacuumer);
        const vacuumed = () => metricSample(METRIC.vacuums, { table: 'jobs', outcome: 'vacuumed' });
        for (let round = 0; round < 2; round++) {
          // Enough rows that every index of `jobs` is well past the bloat bound.
          await churn(db.url, 20 * THRESHOLD);
          await waitFor('the dead tuples in the statistics', async () => (await deadTuples(db.url)) >= 20 * THRESHOLD);
          const before = await vacuumed();
          await vacuumer.runOnce();
          expect(await vacuumed()).toBe(before + 1);
        }
        expect(await rebuilds('denied')).toBe(deniedBefore + 1);
        expect(logger.warnings.filter((w) => w.includes('may not rebuild'))).toEqual([
          expect.stringContaining(`the indexes of job_queue.jobs as role "${role}"`),
        ]);
        expect((await jobsIndexes(db.url)).rows.filter((r) => !r.valid)).toEqual([]);
      } finally {
        await app.close();
      }
    } finally {
      await query(db.url, `ALTER DATABASE ${db.name} OWNER TO postgres`);
      await query(db.url, `DROP OWNED BY ${role}`);
      await query(db.url, `DROP ROLE ${role}`);
    }
  });
});
