import { Injectable, type INestApplicationContext } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { JobHandler, JobProducer, SnoozeJob, type JobContext } from '@app/job-queue';
import type { JobRepository } from '@app/job-queue/internal';
import { createTestDatabase, type TestDatabase } from './support/test-database';
import { startTestApp } from './support/test-app';
import { query } from './support/sql';
import { waitFor } from './support/wait-for';
import { deadRow, installTransitionLog, jobRow, openRepository, transitionsOf } from './support/queue-probes';

const SNOOZE_MS = 400;
/** What each handler saw, per job: the attempt and snooze count of every run. */
const seen = new Map<string, Array<{ attempt: number; snoozeCount: number }>>();
const record = (ctx: JobContext) => {
  const runs = seen.get(ctx.id) ?? [];
  runs.push({ attempt: ctx.attempt, snoozeCount: ctx.snoozeCount });
  seen.set(ctx.id, runs);
};

@Injectable()
class Handlers {
  /** Snoozes `times` times by `ms`, then completes: the shape of the sample's demo.snooze. */
  @JobHandler('snooze.times')
  async times(payload: { ms: number; times: number }, ctx: JobContext) {
    record(ctx);
    if (ctx.snoozeCount < payload.times) ctx.snooze(payload.ms);
  }

  /** Throws the SnoozeJob itself. */
  @JobHandler('snooze.thrown')
  async thrown(_: unknown, ctx: JobContext) {
    record(ctx);
    if (ctx.snoozeCount < 1) throw new SnoozeJob(SNOOZE_MS);
  }

  /** Catches the snooze and returns: the snooze it asked for still stands. */
  @JobHandler('snooze.swallowed')
  async swallowed(_: unknown, ctx: JobContext) {
    record(ctx);
    if (ctx.snoozeCount > 0) return;
    try {
      ctx.snooze(SNOOZE_MS);
    } catch {
      // a catch-all that swallows it
    }
  }

  /** A bug: snoozes forever. */
  @JobHandler('snooze.forever', { maxSnoozes: 2 })
  async forever(_: unknown, ctx: JobContext) {
    record(ctx);
    ctx.snooze(0);
  }

  /** Writes its effect, then snoozes once: the effect is rolled back with the snooze. */
  @JobHandler('snooze.tx', { transactional: true })
  async tx(_: unknown, ctx: JobContext) {
    record(ctx);
    await ctx.manager!.query('INSERT INTO effects (job_id, snooze_count) VALUES ($1, $2)', [ctx.id, ctx.snoozeCount]);
    if (ctx.snoozeCount < 1) ctx.snooze(SNOOZE_MS);
  }
}

describe('snooze: a handler puts its job back for later without charging an attempt', () => {
  let db: TestDatabase;
  let app: INestApplicationContext | undefined;
  let producer: JobProducer;

  beforeAll(async () => {
    db = await createTestDatabase();
    await installTransitionLog(db.url);
    await query(db.url, 'CREATE TABLE effects (job_id uuid NOT NULL, snooze_count int NOT NULL)');
    app = await startTestApp({ connectionUrl: db.url, pollIntervalMs: 50, retryDelayMs: 10, maxAttempts: 3 }, [
      Handlers,
    ]);
    await app.init();
    producer = app.get(JobProducer);
  });

  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  it('snoozes 3 times then completes: attempt_count given back each time, due at now() + ms on the database clock', async () => {
    const { id } = await producer.enqueue('snooze.times', { ms: SNOOZE_MS, times: 3 });
    // Between snoozes the row waits: pending, attempt_count back at 0, snooze_count counting.
    for (let n = 1; n <= 3; n++) {
      const row = await waitFor(`snooze ${n} written`, async () => {
        const r = await jobRow(db.url, id);
        return r?.snooze_count === n && r.status === 'pending' ? r : undefined;
      });
      expect(row).toMatchObject({ attempt_count: 0, lock_token: null, locked_by: null, last_error: null });
    }
    await waitFor('job completed', async () => (await jobRow(db.url, id)) === undefined);
    expect(await deadRow(db.url, id)).toBeUndefined();
    expect(seen.get(id)).toEqual([0, 1, 2, 3].map((snoozeCount) => ({ attempt: 1, snoozeCount })));

    // Each snooze, as the statement wrote it: pending, attempt 0, due exactly ms after its own now().
    const snoozes = (await transitionsOf(db.url, id)).filter((t) => t.old_status === 'processing');
    expect(snoozes.map((t) => [t.status, t.attempt_count, t.delay_ms])).toEqual(
      Array.from({ length: 3 }, () => ['pending', 0, SNOOZE_MS]),
    );
    // And the next claim waited for it (database clock): each claim after a snooze comes at or after its due time.
    const claims = await query<{ waited_ms: number }>(
      db.url,
      `SELECT (extract(epoch FROM c.updated_at - s.next_retry_at) * 1000)::float8 AS waited_ms
       FROM public.transitions s JOIN LATERAL (
         SELECT updated_at FROM public.transitions c WHERE c.id = s.id AND c.seq > s.seq AND c.status = 'processing'
         ORDER BY c.seq LIMIT 1) c ON true
       WHERE s.id = $1 AND s.old_status = 'processing' ORDER BY s.seq`,
      [id],
    );
    console.log(`claims after each snooze came ${claims.map((c) => c.waited_ms.toFixed(1)).join(', ')} ms after due`);
    expect(claims).toHaveLength(3);
    for (const { waited_ms } of claims) expect(waited_ms).toBeGreaterThanOrEqual(0);
  });

  it('a thrown SnoozeJob snoozes too, and so does a ctx.snooze the handler caught', async () => {
    const thrown = await producer.enqueue('snooze.thrown', {});
    const swallowed = await producer.enqueue('snooze.swallowed', {});
    for (const { id } of [thrown, swallowed]) {
      await waitFor('job completed', async () => (await jobRow(db.url, id)) === undefined);
      expect(seen.get(id)).toEqual([
        { attempt: 1, snoozeCount: 0 },
        { attempt: 1, snoozeCount: 1 },
      ]);
    }
  });

  it('dead-letters a job past its maxSnoozes, with a reason that says so', async () => {
    const { id } = await producer.enqueue('snooze.forever', {});
    const dead = await waitFor('job dead', () => deadRow(db.url, id));
    expect(dead.failure_reason).toMatch(/snoozed more than maxSnoozes \(2\) times/);
    expect(dead.attempt_count).toBe(1);
    expect(dead.snapshot).toMatchObject({ snooze_count: 2, attempt_count: 1 });
    expect(seen.get(id)!.map((r) => r.snoozeCount)).toEqual([0, 1, 2]);
  });

  it('in a transactional handler the snooze rolls the work back and is written in its place', async () => {
    const { id } = await producer.enqueue('snooze.tx', {});
    await waitFor('job completed', async () => (await jobRow(db.url, id)) === undefined);
    // Only the run that completed left its effect.
    expect(await query(db.url, 'SELECT snooze_count FROM effects WHERE job_id = $1', [id])).toEqual([
      { snooze_count: 1 },
    ]);
    expect(seen.get(id)!.map((r) => r.attempt)).toEqual([1, 1]);
  });
});

describe('snooze is fenced like every finish', () => {
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

  it('an attempt whose lease was lost cannot snooze; the holder can', async () => {
    const { repository } = worker;
    const [{ id }] = await query<{ id: string }>(
      db.url,
      `INSERT INTO job_queue.jobs (type, payload, status, max_attempts) VALUES ('fence.snooze', '{}', 'pending', 5) RETURNING id`,
    );
    const [first] = await repository.claimAvailable(['default'], ['fence.snooze'], 1, 'worker-a');
    expect(first.snooze_count).toBe(0);
    // Another instance took the job over (as after a rescue and a new claim).
    await query(
      db.url,
      `UPDATE job_queue.jobs SET lock_token = gen_random_uuid(), locked_by = 'worker-b' WHERE id = $1`,
      [id],
    );
    const before = await jobRow(db.url, id);
    expect(await repository.snoozeMany([{ id, token: first.lock_token, delayMs: 1_000 }])).toEqual(new Set());
    expect(await jobRow(db.url, id)).toEqual(before);

    const holder = before!.lock_token as string;
    expect(await repository.snoozeMany([{ id, token: holder, delayMs: 1_000 }])).toEqual(new Set([id]));
    expect(await jobRow(db.url, id)).toMatchObject({ status: 'pending', attempt_count: 0, snooze_count: 1 });
  });
});
