import { Injectable, type INestApplicationContext } from '@nestjs/common';
import { JobHandler, JobProducer, type JobContext } from '@app/job-queue';
import { createTestDatabase, type TestDatabase } from './support/test-database';
import { startTestApp } from './support/test-app';
import { query } from './support/sql';
import { waitFor } from './support/wait-for';
import { deadRow, jobRow } from './support/queue-probes';

const EFFECTS = 'CREATE TABLE effects (job_id uuid NOT NULL, attempt int NOT NULL)';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let releaseStuck: () => void = () => undefined;
/** The database's clock near the end of a slow attempt, by job id. */
const attemptEndedAt = new Map<string, Date>();

@Injectable()
class Handlers {
  /** Writes its effect after its timeout has fired, ignoring the signal: the effect must still be transactional. */
  @JobHandler('tx.late-writer', { transactional: true, timeoutMs: 100, maxAttempts: 1 })
  async lateWriter(_: unknown, ctx: JobContext) {
    await sleep(400);
    await ctx.manager!.query('INSERT INTO effects (job_id, attempt) VALUES ($1, $2)', [ctx.id, ctx.attempt]);
  }

  @JobHandler('tx.fails-after-write', { transactional: true, maxAttempts: 2 })
  async failsAfterWrite(_: unknown, ctx: JobContext) {
    await ctx.manager!.query('INSERT INTO effects (job_id, attempt) VALUES ($1, $2)', [ctx.id, ctx.attempt]);
    if (ctx.attempt === 1) throw new Error('fail after the write');
  }

  /**
   * Spends 1.5 s of the database's clock in its transaction, notes the time, then fails (a retry in a minute) or
   * snoozes (for a minute): the delay counts from the end of the attempt, not from the start of its transaction.
   */
  @JobHandler('tx.slow-retry', { transactional: true, maxAttempts: 2, backoff: { type: 'linear', delayMs: 60_000 } })
  async slowRetry(_: unknown, ctx: JobContext) {
    await this.spend(ctx);
    throw new Error('fail after a while');
  }

  @JobHandler('tx.slow-snooze', { transactional: true })
  async slowSnooze(_: unknown, ctx: JobContext) {
    await this.spend(ctx);
    return ctx.snooze(60_000);
  }

  @JobHandler('tx.slow-done', { transactional: true })
  async slowDone(_: unknown, ctx: JobContext) {
    await this.spend(ctx);
  }

  @JobHandler('tx.slow-dead', { transactional: true, maxAttempts: 1 })
  async slowDead(_: unknown, ctx: JobContext) {
    await this.spend(ctx);
    throw new Error('fail for good after a while');
  }

  private async spend(ctx: JobContext) {
    await ctx.manager!.query('SELECT pg_sleep(1.5)');
    const [{ at }] = await ctx.manager!.query<Array<{ at: Date }>>('SELECT statement_timestamp() AS at');
    attemptEndedAt.set(ctx.id, at);
  }

  /** Holds its transaction and ignores shutdown's abort. */
  @JobHandler('tx.stuck', { transactional: true })
  async stuck(_: unknown, ctx: JobContext) {
    await ctx.manager!.query('INSERT INTO effects (job_id, attempt) VALUES ($1, $2)', [ctx.id, ctx.attempt]);
    await new Promise<void>((resolve) => (releaseStuck = resolve));
  }
}

describe('transactional handlers', () => {
  let db: TestDatabase;
  let app: INestApplicationContext | undefined;

  beforeAll(async () => {
    db = await createTestDatabase();
    await query(db.url, EFFECTS);
  });

  afterEach(async () => {
    releaseStuck();
    await app?.close();
    app = undefined;
  });

  afterAll(async () => {
    await db?.drop();
  });

  async function start(shutdownTimeoutMs = 5_000, completedMs = 0) {
    const retention = { completedMs };
    app = await startTestApp(
      { connectionUrl: db.url, pollIntervalMs: 50, retryDelayMs: 10, shutdownTimeoutMs, retention },
      [Handlers],
    );
    await app.init();
    return app.get(JobProducer);
  }

  it('keeps a late write inside the transaction: the effect commits with the completion, never on its own', async () => {
    const producer = await start();
    const { id } = await producer.enqueue('tx.late-writer', {});
    await waitFor('job gone from jobs', async () => !(await jobRow(db.url, id)));
    const effects = await query(db.url, 'SELECT * FROM effects WHERE job_id = $1', [id]);
    const dead = await deadRow(db.url, id);
    // Either the attempt completed (one effect, no dead job) or it failed (no effect, dead job); never both.
    expect({ effects: effects.length, dead: dead !== undefined }).toEqual({ effects: 1, dead: false });
  });

  it('rolls back the effects of a failed attempt, so a retried job has exactly one', async () => {
    const producer = await start();
    const { id } = await producer.enqueue('tx.fails-after-write', {});
    await waitFor('job completed', async () => !(await jobRow(db.url, id)));
    expect(await query(db.url, 'SELECT attempt FROM effects WHERE job_id = $1', [id])).toEqual([{ attempt: 2 }]);
  });

  it.each(['tx.slow-retry', 'tx.slow-snooze'])(
    '%s: the delay counts from the end of the attempt, not from the start of its transaction',
    async (type) => {
      const producer = await start();
      const { id } = await producer.enqueue(type, {});
      const row = await waitFor(`job ${id} back to pending`, async () => {
        const r = await jobRow(db.url, id);
        return r?.status === 'pending' && attemptEndedAt.has(id) ? r : undefined;
      });
      const dueIn = (row.next_retry_at as Date).getTime() - attemptEndedAt.get(id)!.getTime();
      // Counted from the transaction's start, the 1.5 s the attempt took would be missing from the minute.
      expect(dueIn).toBeGreaterThanOrEqual(60_000);
      expect(dueIn).toBeLessThan(61_500);
    },
  );

  it('a finished or dead job is stamped when it ended, not when its transaction began', async () => {
    const producer = await start(5_000, 60_000);
    const done = await producer.enqueue('tx.slow-done', {});
    const dead = await producer.enqueue('tx.slow-dead', {});
    const finished = await waitFor('kept in finished_jobs', async () => {
      const rows = await query<{ finished_at: Date }>(
        db.url,
        'SELECT finished_at FROM job_queue.finished_jobs WHERE id = $1',
        [done.id],
      );
      return rows[0];
    });
    const died = await waitFor(`job ${dead.id} dead`, () => deadRow(db.url, dead.id));
    // Stamped with the transaction's now(), both would be 1.5 s before the attempt ended.
    expect(finished.finished_at.getTime()).toBeGreaterThanOrEqual(attemptEndedAt.get(done.id)!.getTime());
    expect((died.failed_at as Date).getTime()).toBeGreaterThanOrEqual(attemptEndedAt.get(dead.id)!.getTime());
  });

  it('at shutdown, ends the transaction of a handler that ignores its abort and releases the job unlocked', async () => {
    const producer = await start(200);
    const { id } = await producer.enqueue('tx.stuck', {});
    await waitFor('stuck job running', async () => (await jobRow(db.url, id))?.status === 'processing');
    await waitFor('effect written in its transaction', async () => {
      const [row] = await query<{ n: number }>(
        db.url,
        `SELECT count(*)::int AS n FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE a.datname = current_database() AND l.locktype = 'transactionid' AND a.pid <> pg_backend_pid()`,
      );
      return row.n > 0;
    });
    await app!.close();
    app = undefined;
    const row = await jobRow(db.url, id);
    expect(row).toMatchObject({ status: 'pending', locked_by: null, lock_token: null, attempt_count: 0 });
    // The effect was rolled back with the transaction; the job will run again elsewhere.
    expect(await query(db.url, 'SELECT * FROM effects WHERE job_id = $1', [id])).toEqual([]);
  });
});
