import { Injectable, type INestApplicationContext } from '@nestjs/common';
import { JobHandler, JobProducer, type JobContext } from '@app/job-queue';
import { createTestDatabase, type TestDatabase } from './support/test-database';
import { startTestApp } from './support/test-app';
import { waitFor } from './support/wait-for';
import { deadRow, installTransitionLog, jobRow, transitionsOf, type Transition } from './support/queue-probes';

const RETRY_DELAY_MS = 80;
const MODULE_MAX_ATTEMPTS = 3;
const calls = new Map<string, number[]>();

function record(ctx: JobContext): never {
  calls.set(ctx.id, [...(calls.get(ctx.id) ?? []), ctx.attempt]);
  throw new Error(`attempt ${ctx.attempt} failed`);
}

@Injectable()
class FailingHandlers {
  @JobHandler('retry.linear', { maxAttempts: 4 })
  async linear(_: unknown, ctx: JobContext) {
    record(ctx);
  }

  @JobHandler('retry.exponential', { maxAttempts: 4, backoff: { type: 'exponential', delayMs: 50, jitter: false } })
  async exponential(_: unknown, ctx: JobContext) {
    record(ctx);
  }

  @JobHandler('retry.module-default')
  async moduleDefault(_: unknown, ctx: JobContext) {
    record(ctx);
  }

  @JobHandler('retry.handler-max', { maxAttempts: 2, backoff: () => 0 })
  async handlerMax(_: unknown, ctx: JobContext) {
    record(ctx);
  }
}

/** The failed attempts' transitions (processing → pending) and the claims (pending → processing), in order. */
const retriesOf = (t: Transition[]) => t.filter((x) => x.old_status === 'processing' && x.status === 'pending');
const claimsOf = (t: Transition[]) => t.filter((x) => x.old_status === 'pending' && x.status === 'processing');

describe('retry: backoff by the database clock, max attempts precedence', () => {
  let db: TestDatabase;
  let app: INestApplicationContext;

  beforeAll(async () => {
    db = await createTestDatabase();
    await installTransitionLog(db.url);
    app = await startTestApp(
      {
        connectionUrl: db.url,
        retryDelayMs: RETRY_DELAY_MS,
        maxAttempts: MODULE_MAX_ATTEMPTS,
        pollIntervalMs: 20,
        concurrency: 8,
      },
      [FailingHandlers],
    );
  });

  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  const dead = (id: string) => waitFor(`job ${id} dead-lettered`, () => deadRow(db.url, id), 10_000);

  it('linear: next_retry_at − failure time = attempt × retryDelayMs, and no attempt starts early', async () => {
    const { id } = await app.get(JobProducer).enqueue('retry.linear', {});
    await dead(id);
    const log = await transitionsOf(db.url, id);
    const retries = retriesOf(log);
    // updated_at is now() of the failing statement, the same now() that next_retry_at is computed from.
    expect(retries.map((r) => [r.attempt_count, r.delay_ms])).toEqual([
      [1, 1 * RETRY_DELAY_MS],
      [2, 2 * RETRY_DELAY_MS],
      [3, 3 * RETRY_DELAY_MS],
    ]);
    expect(retries.map((r) => r.last_error)).toEqual(['attempt 1 failed', 'attempt 2 failed', 'attempt 3 failed']);
    const claims = claimsOf(log);
    expect(claims.map((c) => c.attempt_count)).toEqual([1, 2, 3, 4]);
    // Each retry's claim happened (database clock) no earlier than the run-at its failure set.
    retries.forEach((r, i) =>
      expect(claims[i + 1].updated_at.getTime()).toBeGreaterThanOrEqual(r.next_retry_at.getTime()),
    );
    expect(calls.get(id)).toEqual([1, 2, 3, 4]);
  });

  it('exponential without jitter doubles: delay, 2 × delay, 4 × delay', async () => {
    const { id } = await app.get(JobProducer).enqueue('retry.exponential', {});
    await dead(id);
    const log = await transitionsOf(db.url, id);
    expect(retriesOf(log).map((r) => r.delay_ms)).toEqual([50, 100, 200]);
    const claims = claimsOf(log);
    retriesOf(log).forEach((r, i) =>
      expect(claims[i + 1].updated_at.getTime()).toBeGreaterThanOrEqual(r.next_retry_at.getTime()),
    );
  });

  it('max attempts: the job’s own over the handler’s over the module default', async () => {
    const producer = app.get(JobProducer);
    const cases = [
      { type: 'retry.module-default', options: {}, expected: MODULE_MAX_ATTEMPTS },
      { type: 'retry.module-default', options: { maxAttempts: 1 }, expected: 1 },
      { type: 'retry.handler-max', options: {}, expected: 2 },
      { type: 'retry.handler-max', options: { maxAttempts: 4 }, expected: 4 },
      { type: 'retry.handler-max', options: { maxAttempts: 1 }, expected: 1 },
    ];
    const ids: string[] = [];
    for (const c of cases) {
      const { id } = await producer.enqueue(c.type, {}, c.options);
      ids.push(id);
    }
    for (const [i, c] of cases.entries()) {
      const row = await dead(ids[i]);
      expect({ type: c.type, options: c.options, max: row.max_attempts, attempts: row.attempt_count }).toEqual({
        type: c.type,
        options: c.options,
        max: c.expected,
        attempts: c.expected,
      });
      expect(calls.get(ids[i])).toEqual(Array.from({ length: c.expected }, (_, k) => k + 1));
      expect(await jobRow(db.url, ids[i])).toBeUndefined();
    }
  });
});
