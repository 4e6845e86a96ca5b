import { Injectable, type INestApplicationContext } from '@nestjs/common';
import { JobHandler, JobProducer, type JobContext } from '@app/job-queue';
import { createTestDatabase, type TestDatabase } from './support/test-database';
import { startTestApp } from './support/test-app';
import { query } from './support/sql';
import { waitFor } from './support/wait-for';
import { deadRow, gate, installTransitionLog, jobRow, transitionsOf } from './support/queue-probes';

const LEASE_MS = 1_000;
let holders = gate();
let failNow = gate();
/** Ids of jobs whose handler has started (their effects are uncommitted until then, so invisible to the test). */
const started: string[] = [];

@Injectable()
class Handlers {
  /** Holds its transaction, and so a pool connection, until the test lets go. */
  @JobHandler('pool.hold', { transactional: true })
  async hold(_: unknown, ctx: JobContext) {
    await ctx.manager!.query('INSERT INTO effects (job_id, attempt) VALUES ($1, $2)', [ctx.id, ctx.attempt]);
    started.push(ctx.id);
    await holders.promise;
  }

  /** Quick once it runs; its timeout is shorter than its wait for a connection, and must not count that wait. */
  @JobHandler('pool.quick', { transactional: true, timeoutMs: LEASE_MS / 2 })
  async quick(_: unknown, ctx: JobContext) {
    started.push(ctx.id);
    await ctx.manager!.query('INSERT INTO effects (job_id, attempt) VALUES ($1, $2)', [ctx.id, ctx.attempt]);
  }

  /** Fails once its transaction has held the row for longer than a lease. */
  @JobHandler('pool.fail-late', { transactional: true, maxAttempts: 3 })
  async failLate(_: unknown, ctx: JobContext) {
    await ctx.manager!.query('INSERT INTO effects (job_id, attempt) VALUES ($1, $2)', [ctx.id, ctx.attempt]);
    started.push(ctx.id);
    await failNow.promise;
    throw new Error('the real error');
  }
}

describe('transactional jobs and the pool: no lease is charged for a wait, no error replaced by "lease expired"', () => {
  let db: TestDatabase;
  let app: INestApplicationContext;
  /** Another instance, whose recovery cron (on a pool of its own) takes any lease left to expire. */
  let rescuer: INestApplicationContext;

  beforeAll(async () => {
    db = await createTestDatabase();
    await query(db.url, 'CREATE TABLE effects (job_id uuid NOT NULL, attempt int NOT NULL)');
    await installTransitionLog(db.url);
    app = await startTestApp(
      {
        connectionUrl: db.url,
        poolSize: 2,
        concurrency: 3,
        leaseMs: LEASE_MS,
        pollIntervalMs: 50,
        retryDelayMs: 60_000,
        // A finish write waits this long for others to batch with: the widest window the fix must close.
        completionBatchDelayMs: 1_000,
        instanceId: 'pool-a',
      },
      [Handlers],
    );
    rescuer = await startTestApp({
      connectionUrl: db.url,
      leaseMs: LEASE_MS,
      recoveryIntervalMs: 100,
      instanceId: 'pool-b',
    });
  });

  afterAll(async () => {
    holders.open();
    failNow.open();
    await app?.close();
    await rescuer?.close();
    await db?.drop();
  });

  const pendingAgain = async (id: string) =>
    (await transitionsOf(db.url, id)).filter((t) => t.old_status === 'processing' && t.status === 'pending');

  it('a job waiting for a connection keeps its lease renewed and its timeout stopped until its transaction starts', async () => {
    holders = gate();
    // One claim takes all three: two hold the pool's connections, the third waits for one.
    const { ids } = await app.get(JobProducer).enqueueMany([
      { type: 'pool.hold', payload: {}, priority: 2 },
      { type: 'pool.hold', payload: {}, priority: 1 },
      { type: 'pool.quick', payload: {} },
    ]);
    const waiting = ids[2];
    try {
      await waitFor('the first holder running', () => started.includes(ids[0]));
      // The waiting job's lease is renewed past the time it would have expired, while its handler has not run.
      await waitFor(
        'the waiting job renewed past its first lease',
        async () => {
          if (started.includes(waiting)) throw new Error('the waiting job ran');
          const [row] = await query<{ renewed: boolean }>(
            db.url,
            `SELECT status = 'processing' AND locked_at > updated_at + $2 * interval '1.5 millisecond' AS renewed
             FROM job_queue.jobs WHERE id = $1`,
            [waiting, LEASE_MS],
          );
          if (!row) throw new Error('the waiting job is gone');
          return row.renewed;
        },
        15_000,
      );
    } finally {
      holders.open();
    }
    for (const id of ids) await waitFor(`job ${id} completed`, async () => !(await jobRow(db.url, id)), 15_000);
    for (const id of ids) {
      expect(await deadRow(db.url, id)).toBeUndefined();
      expect(await pendingAgain(id)).toEqual([]);
    }
    expect(await query(db.url, 'SELECT attempt FROM effects WHERE job_id = $1', [waiting])).toEqual([{ attempt: 1 }]);
  }, 40_000);

  it('a handler that fails after holding its row past the lease has its own error recorded, not "lease expired"', async () => {
    failNow = gate();
    const { id } = await app.get(JobProducer).enqueue('pool.fail-late', {});
    await waitFor('its transaction holding the row past the lease', async () => {
      if (!started.includes(id)) return false;
      const [row] = await query<{ expired: boolean }>(
        db.url,
        `SELECT locked_at < now() - $2 * interval '1.2 millisecond' AS expired FROM job_queue.jobs WHERE id = $1`,
        [id, LEASE_MS],
      );
      return row?.expired;
    });
    failNow.open();
    await waitFor('the failure written', async () => (await pendingAgain(id)).length > 0);
    expect((await pendingAgain(id)).map((t) => [t.attempt_count, t.last_error])).toEqual([[1, 'the real error']]);
    expect(await jobRow(db.url, id)).toMatchObject({
      status: 'pending',
      attempt_count: 1,
      last_error: 'the real error',
    });
    // Its effect was rolled back with the attempt.
    expect(await query(db.url, 'SELECT * FROM effects WHERE job_id = $1', [id])).toEqual([]);
  }, 40_000);
});
