import { Injectable, type INestApplicationContext } from '@nestjs/common';
import { Client } from 'pg';
import { JobHandler, JobProducer, type JobContext } from '@app/job-queue';
import { type ClaimedJob, JobExecutor, JobHeartbeat } from '@app/job-queue/internal';
import { createTestDatabase, type TestDatabase } from './support/test-database';
import { startTestApp } from './support/test-app';
import { query } from './support/sql';
import { waitFor } from './support/wait-for';
import { deadRow, gate, jobRow } from './support/queue-probes';

const attempts: Array<{ id: string; attempt: number; signal: AbortSignal }> = [];
let finish = gate();

@Injectable()
class Handlers {
  /** Runs until the test opens the gate; honours its signal, so an abort shows. */
  @JobHandler('lease.gated', { maxAttempts: 5 })
  async gated(_: unknown, ctx: JobContext) {
    attempts.push({ id: ctx.id, attempt: ctx.attempt, signal: ctx.signal });
    await new Promise<void>((resolve, reject) => {
      void finish.promise.then(resolve);
      ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason as Error));
    });
  }
}

describe('a lease loss is matched by (id, token): it never aborts a newer attempt of the same job', () => {
  let db: TestDatabase;
  let app: INestApplicationContext;

  beforeAll(async () => {
    db = await createTestDatabase();
    // Long lease and recovery interval: the test runs the heartbeat itself and plays the rescuer.
    app = await startTestApp(
      {
        connectionUrl: db.url,
        concurrency: 2,
        leaseMs: 600_000,
        recoveryIntervalMs: 600_000,
        pollIntervalMs: 50,
        instanceId: 'lease-a',
      },
      [Handlers],
    );
  });

  afterAll(async () => {
    finish.open();
    await app?.close();
    await db?.drop();
  });

  it('jobs one claim took share its token: a lease lost by one of them aborts only that one', async () => {
    finish = gate();
    attempts.length = 0;
    // One transaction: both rows become visible at once, so the claim that takes one takes both (two free slots).
    const {
      ids: [a, b],
    } = await app.get(JobProducer).enqueueMany([
      { type: 'lease.gated', payload: {} },
      { type: 'lease.gated', payload: {} },
    ]);
    await waitFor('both attempts running', () => attempts.length === 2);
    const tokens = await query<{ lock_token: string }>(
      db.url,
      `SELECT lock_token FROM job_queue.jobs WHERE id = ANY ($1)`,
      [[a, b]],
    );
    expect(tokens).toHaveLength(2);
    expect(tokens[0].lock_token).toBe(tokens[1].lock_token);

    // Another instance took job a over: its row carries a new token. The heartbeat finds a's lease lost, not b's.
    await query(db.url, `UPDATE job_queue.jobs SET lock_token = gen_random_uuid(), locked_at = now() WHERE id = $1`, [
      a,
    ]);
    await app.get(JobHeartbeat).runOnce();
    const signalOf = (id: string) => attempts.find((t) => t.id === id)!.signal;
    expect([signalOf(a).aborted, signalOf(b).aborted]).toEqual([true, false]);

    finish.open();
    await waitFor('b completed', async () => !(await jobRow(db.url, b)));
    // a's lost attempt wrote nothing: its row is the taker's.
    expect(await jobRow(db.url, a)).toMatchObject({ status: 'processing', attempt_count: 1 });
    await query(db.url, `DELETE FROM job_queue.jobs WHERE id = $1`, [a]);
  }, 30_000);

  it('a heartbeat that read the old lease before the job was claimed again aborts only the old attempt', async () => {
    finish = gate();
    attempts.length = 0;
    const { id } = await app.get(JobProducer).enqueue('lease.gated', {});
    await waitFor('attempt 1 running', () => attempts.length === 1);

    // Another instance recovered the job and this one claimed it again, in one step (so the poller cannot take it
    // in between): the row now carries a new token, and attempt 1 has not noticed yet.
    const [second] = await query<ClaimedJob>(
      db.url,
      `UPDATE job_queue.jobs SET lock_token = gen_random_uuid(), attempt_count = attempt_count + 1, locked_at = now()
       WHERE id = $1
       RETURNING id, queue, type, payload, priority, attempt_count, max_attempts, lock_token,
                 (extract(epoch FROM created_at) * 1000)::float8 AS created_at_ms, (extract(epoch FROM now()) * 1000)::float8 AS claimed_at_ms`,
      [id],
    );

    // The heartbeat reads this instance's leases (attempt 1's token), then waits for the table...
    const blocker = new Client({ connectionString: db.url });
    await blocker.connect();
    let beat: Promise<void>;
    try {
      await blocker.query('BEGIN');
      await blocker.query('LOCK TABLE job_queue.jobs IN ACCESS EXCLUSIVE MODE');
      beat = app.get(JobHeartbeat).runOnce();
      await waitFor('the heartbeat waiting on the table', async () => {
        const [row] = await query<{ n: number }>(
          db.url,
          `SELECT count(*)::int AS n FROM pg_stat_activity
           WHERE application_name = 'job-queue:lease-a' AND wait_event_type = 'Lock' AND query LIKE '%SET locked_at = now()%'`,
        );
        return row.n > 0;
      });
      // ...while the new claim of the same job reaches the executor.
      app.get(JobExecutor).accept(second);
      await waitFor('attempt 2 running', () => attempts.length === 2);
    } finally {
      await blocker.query('COMMIT');
      await blocker.end();
    }
    await beat;

    expect(attempts.map((a) => [a.attempt, a.signal.aborted])).toEqual([
      [1, true],
      [2, false],
    ]);
    finish.open();
    await waitFor('attempt 2 completed the job', async () => !(await jobRow(db.url, id)));
    expect(await deadRow(db.url, id)).toBeUndefined();
    expect(attempts).toHaveLength(2);
  }, 30_000);
});
