import { Injectable, Module, type INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { DataSource } from 'typeorm';
import { JobHandler, JobProducer, JobQueueModule, type BackoffFunction } from '@app/job-queue';
import type { JobRepository } from '@app/job-queue/internal';
import { createTestDatabase, type TestDatabase } from './support/test-database';
import { CapturingLogger } from './support/capturing-logger';
import { query } from './support/sql';
import { waitFor } from './support/wait-for';
import { deadRow, installTransitionLog, openRepository, transitionsOf } from './support/queue-probes';

const RETRY_DELAY_MS = 150;
/** Custom backoff functions as users get them wrong: each must fall back to the module's linear backoff. */
const BROKEN: Record<string, BackoffFunction> = {
  throws: (_attempt, error) => {
    throw new Error(`cannot read ${(error as Error).message.length}`);
  },
  undefined: (() => undefined) as unknown as BackoffFunction,
  string: (() => '5s') as unknown as BackoffFunction,
  object: (() => ({})) as unknown as BackoffFunction,
  nan: () => Number.NaN,
};
/** The rescuer sees these types only (the app never claims their queue), the executor the `exec.` ones. */
const RESCUED = Object.keys(BROKEN).map((name) => `rescue.${name}`);
const EXECUTED = Object.keys(BROKEN).map((name) => `exec.${name}`);

function handlersFor(types: string[], backoffs: BackoffFunction[], run: () => Promise<void>) {
  @Injectable()
  class Handlers {}
  types.forEach((type, i) => {
    const method = `run${i}`;
    (Handlers.prototype as any)[method] = () => run(); // a function of its own: metadata is set per function
    const descriptor = Object.getOwnPropertyDescriptor(Handlers.prototype, method)!;
    JobHandler(type, { backoff: backoffs[i], maxAttempts: 2 })(Handlers.prototype, method, descriptor);
  });
  return Handlers;
}

describe('a broken custom backoff never blocks a retry, of its own job or of any other', () => {
  let db: TestDatabase;
  let app: INestApplicationContext;
  const logger = new CapturingLogger();
  /** Plays an instance that died holding jobs. */
  let crashed: { repository: JobRepository; dataSource: DataSource };

  beforeAll(async () => {
    db = await createTestDatabase();
    await installTransitionLog(db.url);
    crashed = await openRepository(db.url);
    const backoffs = Object.values(BROKEN);
    const Rescued = handlersFor(RESCUED, backoffs, async () => undefined);
    const Executed = handlersFor(EXECUTED, backoffs, async () => {
      throw new Error('handler failed');
    });
    @Module({
      imports: [
        JobQueueModule.forRoot({
          connectionUrl: db.url,
          leaseMs: 1_000,
          recoveryIntervalMs: 100,
          recoveryBatchSize: 2,
          pollIntervalMs: 50,
          retryDelayMs: RETRY_DELAY_MS,
        }),
      ],
      providers: [Rescued, Executed],
    })
    class AppModule {}
    app = await NestFactory.createApplicationContext(AppModule, { logger, abortOnError: false });
  });

  afterAll(async () => {
    await app?.close();
    await crashed?.dataSource.destroy();
    await db?.drop();
  });

  it("the rescuer retries every expired job with the module's backoff, the broken ones heading the batches included", async () => {
    // Two jobs per broken type, then one of a type without custom backoff, each expired later than the one before:
    // recovery takes them oldest first, two per batch, so every batch starts with a broken function's job.
    const types = [...RESCUED, ...RESCUED, 'rescue.plain'];
    const ids: string[] = [];
    for (const type of types) {
      const [{ id }] = await query<{ id: string }>(
        db.url,
        `INSERT INTO job_queue.jobs (type, queue, payload, status, max_attempts) VALUES ($1, 'elsewhere', '{}', 'pending', 3)
         RETURNING id`,
        [type],
      );
      ids.push(id);
    }
    const claimed = await crashed.repository.claimAvailable(['elsewhere'], [...new Set(types)], 100, 'crashed');
    expect(claimed.map((j) => j.id).sort()).toEqual([...ids].sort());
    // All expired at once, in the order inserted.
    await query(
      db.url,
      `UPDATE job_queue.jobs SET locked_at = now() - interval '1 minute' + array_position($1::uuid[], id) * interval '1 second'
       WHERE id = ANY($1)`,
      [ids],
    );

    await waitFor(
      'every expired job back to pending',
      async () => {
        const [row] = await query<{ n: number }>(
          db.url,
          `SELECT count(*)::int AS n FROM job_queue.jobs WHERE status = 'pending' AND id = ANY($1)`,
          [ids],
        );
        return row.n === ids.length;
      },
      20_000,
    );
    for (const id of ids) {
      const retried = (await transitionsOf(db.url, id)).filter(
        (t) => t.old_status === 'processing' && t.status === 'pending',
      );
      expect(retried.map((t) => [t.attempt_count, t.delay_ms, t.last_error])).toEqual([
        [1, RETRY_DELAY_MS, 'lease expired'],
      ]);
    }
    // Said once per type, however many of its jobs fell back.
    for (const type of RESCUED) {
      expect(logger.warnings.filter((w) => w.includes(`job type "${type}"`))).toHaveLength(1);
    }
  }, 30_000);

  it("the executor retries a failed attempt with the module's backoff and records the handler's error", async () => {
    const producer = app.get(JobProducer);
    const ids: string[] = [];
    for (const type of EXECUTED) ids.push((await producer.enqueue(type, {})).id);
    for (const id of ids) {
      await waitFor(`job ${id} dead-lettered after its second attempt`, () => deadRow(db.url, id), 20_000);
      const retried = (await transitionsOf(db.url, id)).filter(
        (t) => t.old_status === 'processing' && t.status === 'pending',
      );
      expect(retried.map((t) => [t.attempt_count, t.delay_ms, t.last_error])).toEqual([
        [1, RETRY_DELAY_MS, 'handler failed'],
      ]);
    }
    for (const type of EXECUTED) {
      expect(logger.warnings.filter((w) => w.includes(`job type "${type}"`))).toHaveLength(1);
    }
  }, 30_000);
});
