import { Injectable, type INestApplicationContext } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { JOB_QUEUE_METRICS, JobHandler, JobProducer, type JobContext } from '@app/job-queue';
import { type JobRepository, JobHeartbeat, JobRescuer, JobExecutor } from '@app/job-queue/internal';
import { createTestDatabase, type TestDatabase } from './support/test-database';
import { startTestApp } from './support/test-app';
import { query } from './support/sql';
import { waitFor } from './support/wait-for';
import { counterValue, deadRow, gate, jobRow, openRepository } from './support/queue-probes';

const LEASE_LOST = JOB_QUEUE_METRICS.leaseLost;

describe('fencing: a stale attempt can never finish a job it no longer holds', () => {
  let db: TestDatabase;
  let worker: { repository: JobRepository; dataSource: DataSource };

  beforeAll(async () => {
    db = await createTestDatabase();
    worker = await openRepository(db.url);
  });

  afterAll(async () => {
    await worker?.dataSource.destroy();
    await db?.drop();
  });

  const insertJob = async (type: string) =>
    (
      await query<{ id: string }>(
        db.url,
        `INSERT INTO job_queue.jobs (type, payload, status, max_attempts) VALUES ($1, '{}', 'pending', 5) RETURNING id`,
        [type],
      )
    )[0].id;

  it('after expiry, rescue and re-claim, the old token completes, retries and kills nothing', async () => {
    const { repository } = worker;
    const id = await insertJob('fence.job');
    const [first] = await repository.claimAvailable(['default'], ['fence.job'], 1, 'worker-a');
    expect(first.id).toBe(id);

    // The first worker stalls past its lease; recovery returns the job, and another worker claims it.
    await query(db.url, `UPDATE job_queue.jobs SET locked_at = now() - interval '1 hour' WHERE id = $1`, [id]);
    const rescued = await repository.rescueExpired(1_000, 10, () => ({ retryInMs: 0 }), 'lease expired');
    expect(rescued.retried.map((j) => j.id)).toEqual([id]);
    const [second] = await repository.claimAvailable(['default'], ['fence.job'], 1, 'worker-b');
    expect(second.id).toBe(id);
    expect(second.lock_token).not.toBe(first.lock_token);
    expect(second.attempt_count).toBe(2);

    const before = await jobRow(db.url, id);
    const stale = { id, token: first.lock_token };
    expect(await repository.completeMany([stale])).toEqual(new Set());
    expect(await repository.retryMany([{ ...stale, delayMs: 0, error: 'stale retry' }])).toEqual(new Set());
    expect(await repository.killMany([{ ...stale, reason: 'stale kill', stack: null }])).toEqual(new Set());
    expect(await repository.renewLeases([stale])).toEqual(new Set());
    expect(await repository.releaseMany([stale])).toEqual(new Set());
    expect(await jobRow(db.url, id)).toEqual(before);
    expect(before).toMatchObject({
      status: 'processing',
      locked_by: 'worker-b',
      lock_token: second.lock_token,
      attempt_count: 2,
    });
    expect(await deadRow(db.url, id)).toBeUndefined();

    // The current holder's token still works.
    expect(await repository.completeMany([{ id, token: second.lock_token }])).toEqual(new Set([id]));
    expect(await jobRow(db.url, id)).toBeUndefined();
  });

  it('fences the completions a claim carries: only held leases complete, and the claim still claims', async () => {
    const { repository } = worker;
    const held = await insertJob('fence.carried');
    const lost = await insertJob('fence.carried');
    const claimed = await repository.claimAvailable(['default'], ['fence.carried'], 2, 'worker-a');
    const token = new Map(claimed.map((j) => [j.id, j.lock_token]));
    await query(db.url, `UPDATE job_queue.jobs SET lock_token = gen_random_uuid(), locked_by = 'thief' WHERE id = $1`, [
      lost,
    ]);
    const before = await jobRow(db.url, lost);
    const next = await insertJob('fence.carried');

    const { jobs, completed } = await repository.completeAndClaim(
      [
        { id: held, token: token.get(held)! },
        { id: lost, token: token.get(lost)! },
      ],
      ['default'],
      ['fence.carried'],
      5,
      'worker-a',
    );
    expect(completed).toEqual(new Set([held]));
    expect(jobs.map((j) => j.id)).toEqual([next]);
    expect(await jobRow(db.url, held)).toBeUndefined();
    expect(await jobRow(db.url, lost)).toEqual(before);
  });

  it('fences row by row inside one batch: only the leases still held are written', async () => {
    const { repository } = worker;
    const held = await insertJob('fence.batch');
    const lost = await insertJob('fence.batch');
    const claimed = await repository.claimAvailable(['default'], ['fence.batch'], 2, 'worker-a');
    const token = new Map(claimed.map((j) => [j.id, j.lock_token]));
    await query(db.url, `UPDATE job_queue.jobs SET lock_token = gen_random_uuid(), locked_by = 'thief' WHERE id = $1`, [
      lost,
    ]);
    const before = await jobRow(db.url, lost);

    const killed = await repository.killMany([
      { id: held, token: token.get(held)!, reason: 'dead', stack: null },
      { id: lost, token: token.get(lost)!, reason: 'dead', stack: null },
    ]);
    expect(killed).toEqual(new Set([held]));
    expect(await deadRow(db.url, held)).toMatchObject({ failure_reason: 'dead' });
    expect(await deadRow(db.url, lost)).toBeUndefined();
    expect(await jobRow(db.url, lost)).toEqual(before);
    await query(db.url, 'DELETE FROM job_queue.jobs');
  });
});

describe('fencing in the executor: a handler whose lease is stolen has its result discarded', () => {
  let db: TestDatabase;
  let app: INestApplicationContext;
  let thief: { repository: JobRepository; dataSource: DataSource };
  const release = gate();
  const started = new Map<string, number>();
  const aborted = new Map<string, unknown>();
  const finished: string[] = [];

  @Injectable()
  class Handlers {
    /** Waits for the test, then succeeds: its success must not count once the lease is gone. */
    @JobHandler('steal.complete', { backoff: { type: 'linear', delayMs: 60_000 } })
    async complete(_: unknown, ctx: JobContext) {
      started.set(ctx.id, ctx.attempt);
      await release.promise;
      finished.push(ctx.id);
    }

    /** Runs until its signal is aborted. */
    @JobHandler('steal.signal')
    async untilAborted(_: unknown, ctx: JobContext) {
      started.set(ctx.id, ctx.attempt);
      await new Promise<void>((_, reject) =>
        ctx.signal.addEventListener('abort', () => {
          aborted.set(ctx.id, ctx.signal.reason);
          reject(ctx.signal.reason as Error);
        }),
      );
    }
  }

  beforeAll(async () => {
    db = await createTestDatabase();
    thief = await openRepository(db.url);
    // Long lease and intervals: the heartbeat and rescuer run only when the test calls them.
    app = await startTestApp(
      {
        connectionUrl: db.url,
        leaseMs: 60_000,
        recoveryIntervalMs: 60_000,
        pollIntervalMs: 60_000,
        concurrency: 4,
        instanceId: 'victim',
      },
      [Handlers],
    );
  });

  afterAll(async () => {
    release.open();
    await app?.close();
    await thief?.dataSource.destroy();
    await db?.drop();
  });

  it('the rescuer recovers a stalled attempt, another instance claims it, and the late success changes nothing', async () => {
    const labels = { queue: 'default', type: 'steal.complete' };
    const lostBefore = await counterValue(LEASE_LOST, labels);
    const { id } = await app.get(JobProducer).enqueue('steal.complete', {});
    await waitFor('handler started', () => started.has(id));

    await query(db.url, `UPDATE job_queue.jobs SET locked_at = now() - interval '2 minutes' WHERE id = $1`, [id]);
    await app.get(JobRescuer).runOnce();
    expect(await jobRow(db.url, id)).toMatchObject({
      status: 'pending',
      lock_token: null,
      last_error: 'lease expired',
    });
    // Runnable again at once, for another instance (the victim's poller sleeps for a minute).
    await query(db.url, `UPDATE job_queue.jobs SET next_retry_at = now() WHERE id = $1`, [id]);
    const [stolen] = await thief.repository.claimAvailable(['default'], ['steal.complete'], 1, 'thief');
    expect(stolen.id).toBe(id);

    release.open();
    await waitFor('lease loss counted', async () => (await counterValue(LEASE_LOST, labels)) === lostBefore + 1);
    expect(finished).toContain(id);
    expect(await jobRow(db.url, id)).toMatchObject({
      status: 'processing',
      locked_by: 'thief',
      lock_token: stolen.lock_token,
      attempt_count: 2,
    });
    expect(await deadRow(db.url, id)).toBeUndefined();
  });

  it('the heartbeat finds the lease taken, aborts the handler’s signal, and counts the loss once', async () => {
    const labels = { queue: 'default', type: 'steal.signal' };
    const lostBefore = await counterValue(LEASE_LOST, labels);
    const { id } = await app.get(JobProducer).enqueue('steal.signal', {});
    await waitFor('handler started', () => started.has(id));

    // Another instance took the job over (as after a recovery and a new claim).
    await query(db.url, `UPDATE job_queue.jobs SET lock_token = gen_random_uuid(), locked_by = 'thief' WHERE id = $1`, [
      id,
    ]);
    const taken = await jobRow(db.url, id);
    await app.get(JobHeartbeat).runOnce();

    await waitFor('handler aborted', () => aborted.has(id));
    expect(String(aborted.get(id))).toContain('lease lost');
    await waitFor('lease loss counted', async () => (await counterValue(LEASE_LOST, labels)) === lostBefore + 1);
    // The aborted attempt's failure is discarded too: no retry, no dead letter, no second count.
    await waitFor('slot freed', () => app.get(JobExecutor).size === 0);
    expect(await jobRow(db.url, id)).toEqual(taken);
    expect(await deadRow(db.url, id)).toBeUndefined();
    expect(await counterValue(LEASE_LOST, labels)).toBe(lostBefore + 1);
  });
});
