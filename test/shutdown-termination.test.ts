import { Injectable, type INestApplicationContext } from '@nestjs/common';
import { Client } from 'pg';
import { JobHandler, JobProducer, type JobContext } from '@app/job-queue';
import { createTestDatabase, type TestDatabase } from './support/test-database';
import { startTestApp } from './support/test-app';
import { query } from './support/sql';
import { waitFor } from './support/wait-for';
import { gate, openRepository, RELEASE_STATE_COLUMNS, RELEASED_UNTRIED } from './support/queue-probes';

let failNow = gate();
const started: string[] = [];
/** The backend of each job's transaction, as its handler saw it. */
const backends = new Map<string, number>();

@Injectable()
class Handlers {
  /** Fails when the test says so. */
  @JobHandler('term.fail', { transactional: true, maxAttempts: 3 })
  async fail(_: unknown, ctx: JobContext) {
    const [{ pid }] = await ctx.manager!.query<Array<{ pid: number }>>('SELECT pg_backend_pid() AS pid');
    backends.set(ctx.id, pid);
    started.push(ctx.id);
    await failNow.promise;
    throw new Error('the real error');
  }

  /** Times out inside a long statement it does not cancel: only ending its backend stops it. */
  @JobHandler('term.long-query', { transactional: true, timeoutMs: 100, maxAttempts: 3 })
  async longQuery(_: unknown, ctx: JobContext) {
    started.push(ctx.id);
    await ctx.manager!.query('SELECT pg_sleep(60)');
  }
}

/** The pids of the queue's connections to the test database (its pool's, by application name). */
async function queueBackends(url: string): Promise<number[]> {
  const rows = await query<{ pid: number }>(
    url,
    `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'job-queue:term'`,
  );
  return rows.map((r) => r.pid);
}

describe("shutdown's backend termination", () => {
  let db: TestDatabase;
  let app: INestApplicationContext | undefined;

  beforeAll(async () => {
    db = await createTestDatabase();
  });

  afterEach(async () => {
    failNow.open();
    await app?.close();
    app = undefined;
  });

  afterAll(async () => {
    await db?.drop();
  });

  // One slot: while the job runs (or writes its end in its transaction), the poller sends no claim that the test's
  // table lock would hold up.
  const start = () =>
    startTestApp(
      {
        connectionUrl: db.url,
        concurrency: 1,
        pollIntervalMs: 50,
        retryDelayMs: 60_000,
        shutdownTimeoutMs: 200,
        instanceId: 'term',
      },
      [Handlers],
    );

  it("ends only the transaction that still holds its job, even while the job's end is being written, and releases it", async () => {
    failNow = gate();
    app = await start();
    const { id } = await app.get(JobProducer).enqueue('term.fail', {});
    await waitFor('handler running', () => started.includes(id));

    // Hold back every write to the table (the job's transaction only holds a row lock, which this does not wait
    // for), so that the failed attempt's end cannot be written until the test says so.
    const blocker = new Client({ connectionString: db.url });
    await blocker.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query('LOCK TABLE job_queue.jobs IN SHARE MODE');
      failNow.open();
      const [writer] = await waitFor('the failed attempt writing its end', async () => {
        const rows = await query<{ pid: number }>(
          db.url,
          `SELECT pid FROM pg_stat_activity
           WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%f.delay_ms%'`,
        );
        return rows.length > 0 ? rows : undefined;
      });
      // The end is written in the job's own transaction, which still holds its row.
      expect(writer.pid).toBe(backends.get(id));
      const others = (await queueBackends(db.url)).filter((pid) => pid !== writer.pid);
      expect(others.length).toBeGreaterThan(0);
      const running = app;
      app = undefined;
      const closed = running.close();
      // Shutdown ends that backend (the table stays locked: nothing else could end its wait)...
      await waitFor(
        'the job transaction ended by shutdown',
        async () => !(await queueBackends(db.url)).includes(writer.pid),
        15_000,
      );
      // ...and no other connection of the pool, idle or busy.
      expect((await queueBackends(db.url)).filter((pid) => others.includes(pid)).sort()).toEqual([...others].sort());
      await blocker.query('COMMIT');
      await closed;
    } finally {
      await blocker.end();
    }
    const [row] = await query(db.url, `SELECT ${RELEASE_STATE_COLUMNS} FROM job_queue.jobs WHERE id = $1`, [id]);
    expect(row).toEqual(RELEASED_UNTRIED);
  }, 30_000);

  it('ends the transaction of a handler stuck in a statement, and releases its job with the attempt refunded', async () => {
    app = await start();
    const { id } = await app.get(JobProducer).enqueue('term.long-query', {});
    await waitFor('its statement running', async () => {
      const rows = await query(
        db.url,
        `SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND query = 'SELECT pg_sleep(60)' AND state = 'active'`,
      );
      return rows.length === 1;
    });
    // Not ended, its 60 s statement would hold the pool's closing (and this test) far past its deadline.
    const running = app;
    app = undefined;
    await running.close();
    const [row] = await query(db.url, `SELECT ${RELEASE_STATE_COLUMNS} FROM job_queue.jobs WHERE id = $1`, [id]);
    expect(row).toEqual(RELEASED_UNTRIED);
  }, 30_000);

  it('the termination statement spares a connection that has moved on to another transaction', async () => {
    const { repository, dataSource } = await openRepository(db.url);
    // Plays a pooled connection: it ran a job's transaction, went back to the pool and now runs someone else's.
    const pooled = new Client({ connectionString: db.url });
    // A terminated connection reports the termination, then possibly its end: every 'error' is kept, none thrown.
    const errors: unknown[] = [];
    pooled.on('error', (error) => errors.push(error));
    await pooled.connect();
    try {
      const pid = (pooled as unknown as { processID: number }).processID;
      await pooled.query('BEGIN');
      const [{ xact_start: jobTransaction }] = (await pooled.query('SELECT now()::text AS xact_start')).rows;
      await pooled.query('COMMIT');
      await pooled.query('BEGIN');
      const [{ xact_start: later }] = (await pooled.query('SELECT now()::text AS xact_start')).rows;
      expect(later).not.toBe(jobTransaction);

      expect(await repository.terminateBackends([{ pid, xactStart: jobTransaction }])).toBe(0);
      await expect(pooled.query('SELECT 1')).resolves.toBeDefined();

      // The transaction it runs now is ended when named.
      expect(errors).toEqual([]);
      expect(await repository.terminateBackends([{ pid, xactStart: later }])).toBe(1);
      const [ended] = await waitFor('the connection told of its end', () => (errors.length > 0 ? errors : undefined));
      expect(ended).toMatchObject({ code: '57P01' });
    } finally {
      await pooled.end().catch(() => undefined);
      await dataSource.destroy();
    }
  });
});
