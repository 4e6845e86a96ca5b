import { Injectable, type INestApplicationContext } from '@nestjs/common';
import { JobHandler, JobProducer, JobQueueAdmin } from '@app/job-queue';
import { JobRepository } from '@app/job-queue/internal';
import { createTestDatabase, type TestDatabase } from './support/test-database';
import { startTestApp } from './support/test-app';
import { query } from './support/sql';
import { waitFor } from './support/wait-for';

@Injectable()
class Handlers {
  @JobHandler('r.work')
  async work(payload: { n: number }) {
    await new Promise((r) => setTimeout(r, 2));
    return { n: payload.n };
  }
}

const HOUR = 3_600_000;

async function count(url: string, sql: string): Promise<number> {
  const [row] = await query<{ n: number }>(url, `SELECT count(*)::int AS n FROM ${sql}`);
  return row.n;
}

/** Old rows of both tables, `ageMs` old by their finish time, of a queue of their own. */
async function seed(url: string, finished: number, dead: number, ageMs: number, tag: string): Promise<void> {
  await query(
    url,
    `INSERT INTO job_queue.finished_jobs (id, queue, type, payload, status, priority, attempt_count, max_attempts, next_retry_at, created_at, finished_at)
     SELECT gen_random_uuid(), $1, 'r.old', '{}', 'completed', 0, 1, 3, now(), now(), now() - $2::int * interval '1 ms'
     FROM generate_series(1, $3)`,
    [tag, ageMs, finished],
  );
  await query(
    url,
    `INSERT INTO job_queue.dead_jobs (id, queue, type, payload, priority, failure_reason, attempt_count, max_attempts, created_at, failed_at, snapshot)
     SELECT gen_random_uuid(), $1, 'r.old', '{}', 0, 'x', 3, 3, now(), now() - $2::int * interval '1 ms', '{}'
     FROM generate_series(1, $3)`,
    [tag, ageMs, dead],
  );
}

describe('retention: pruning', () => {
  let db: TestDatabase;
  let app: INestApplicationContext | undefined;

  beforeEach(async () => {
    db = await createTestDatabase();
  });

  afterEach(async () => {
    await app?.close();
    app = undefined;
    await db?.drop();
  });

  it('removes only expired rows, in batches, while workers keep completing jobs into the same table', async () => {
    app = await startTestApp(
      {
        connectionUrl: db.url,
        pollIntervalMs: 50,
        // Pruned by hand below; the interval never fires during the test.
        retention: { completedMs: HOUR, deadMs: 2 * HOUR, pruneIntervalMs: 600_000, pruneBatchSize: 50 },
      },
      [Handlers],
    );
    await app.init();
    await seed(db.url, 300, 120, 3 * HOUR, 'expired');
    await seed(db.url, 40, 30, 90 * 60_000, 'between'); // finished past 1 h, dead within 2 h
    await seed(db.url, 25, 25, 60_000, 'fresh');
    const producer = app.get(JobProducer);
    const admin = app.get(JobQueueAdmin);
    const { ids } = await producer.enqueueMany(
      Array.from({ length: 400 }, (_, n) => ({ type: 'r.work', payload: { n } })),
    );
    await waitFor(
      'workers busy',
      async () => (await count(db.url, `job_queue.finished_jobs WHERE type = 'r.work'`)) > 0,
    );

    // One batch deletes at most the batch size.
    expect(await app.get(JobRepository).pruneFinished(HOUR, 50)).toBe(50);
    const pruned = await admin.prune();
    expect(pruned).toEqual({ finished: 300 + 40 - 50, dead: 120 });

    await waitFor('every job completed', async () => (await count(db.url, 'job_queue.jobs')) === 0);
    expect(await count(db.url, `job_queue.finished_jobs WHERE type = 'r.work' AND status = 'completed'`)).toBe(400);
    expect(await count(db.url, `job_queue.finished_jobs WHERE queue IN ('expired', 'between')`)).toBe(0);
    expect(await count(db.url, `job_queue.finished_jobs WHERE queue = 'fresh'`)).toBe(25);
    expect(await count(db.url, `job_queue.dead_jobs WHERE queue = 'expired'`)).toBe(0);
    expect(await count(db.url, `job_queue.dead_jobs WHERE queue IN ('between', 'fresh')`)).toBe(55);
    const job = await admin.getJob(ids[7]);
    expect(job).toMatchObject({ status: 'completed', result: { n: 7 }, attempt_count: 1 });
  });

  it('prunes on its interval: a completed job is queryable, then gone (404) after its retention', async () => {
    app = await startTestApp(
      { connectionUrl: db.url, pollIntervalMs: 50, retention: { completedMs: 500, pruneIntervalMs: 100 } },
      [Handlers],
    );
    await app.init();
    const admin = app.get(JobQueueAdmin);
    const { id } = await app.get(JobProducer).enqueue('r.work', { n: 1 });
    await waitFor('completed and kept', async () => (await admin.getJob(id))?.status === 'completed');
    await waitFor('pruned', async () => (await admin.getJob(id)) === null, 10_000);
  });

  it('with retention off, no pruner deletes dead jobs and completions keep nothing', async () => {
    app = await startTestApp({ connectionUrl: db.url, pollIntervalMs: 50 }, [Handlers]);
    await app.init();
    await seed(db.url, 0, 10, 100 * HOUR, 'old');
    expect(await app.get(JobQueueAdmin).prune()).toEqual({ finished: 0, dead: 0 });
    const { id } = await app.get(JobProducer).enqueue('r.work', { n: 1 });
    await waitFor('completed', async () => (await count(db.url, 'job_queue.jobs')) === 0);
    expect(await app.get(JobQueueAdmin).getJob(id)).toBeNull();
    expect(await count(db.url, 'job_queue.dead_jobs')).toBe(10);
  });
});
