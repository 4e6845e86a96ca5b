import { Injectable, type INestApplicationContext } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { JobHandler, JobProducer, type JobContext } from '@app/job-queue';
import type { JobRepository } from '@app/job-queue/internal';
import { createTestDatabase, type TestDatabase } from './support/test-database';
import { startTestApp } from './support/test-app';
import { query } from './support/sql';
import { waitFor } from './support/wait-for';
import { countJobs, openRepository } from './support/queue-probes';

const INSTANCE_CONCURRENCY = 4;
const NARROW_CONCURRENCY = 2;

/** Counts handlers running at this moment, and the most ever seen, per type and over all. */
const running = { all: 0, maxAll: 0, byType: new Map<string, number>(), maxByType: new Map<string, number>() };
const done: string[] = [];

async function slow(ctx: JobContext) {
  running.all += 1;
  running.maxAll = Math.max(running.maxAll, running.all);
  const now = (running.byType.get(ctx.type) ?? 0) + 1;
  running.byType.set(ctx.type, now);
  running.maxByType.set(ctx.type, Math.max(running.maxByType.get(ctx.type) ?? 0, now));
  try {
    await new Promise((r) => setTimeout(r, 60));
  } finally {
    running.all -= 1;
    running.byType.set(ctx.type, (running.byType.get(ctx.type) ?? 1) - 1);
    done.push(ctx.id);
  }
}

@Injectable()
class SlowHandlers {
  @JobHandler('limit.wide')
  async wide(_: unknown, ctx: JobContext) {
    await slow(ctx);
  }

  @JobHandler('limit.narrow', { concurrency: NARROW_CONCURRENCY })
  async narrow(_: unknown, ctx: JobContext) {
    await slow(ctx);
  }
}

describe('claim limits: batch size, types, queues, instance and handler concurrency', () => {
  let db: TestDatabase;
  let claimer: { repository: JobRepository; dataSource: DataSource };
  let app: INestApplicationContext | undefined;

  beforeAll(async () => {
    db = await createTestDatabase();
    claimer = await openRepository(db.url);
  });

  afterAll(async () => {
    await app?.close();
    await claimer?.dataSource.destroy();
    await db?.drop();
  });

  it('returns at most `limit` jobs, only of the listed types and queues', async () => {
    await query(
      db.url,
      `INSERT INTO job_queue.jobs (queue, type, payload, status, max_attempts)
       SELECT q, t, '{}', 'pending', 3
       FROM (VALUES ('default', 'lim.a', 5), ('default', 'lim.b', 5), ('other', 'lim.a', 4)) v(q, t, n),
            generate_series(1, n)`,
    );
    const { repository } = claimer;

    const first = await repository.claimAvailable(['default'], ['lim.a'], 3, 'limits');
    expect(first).toHaveLength(3);
    expect(first.every((j) => j.type === 'lim.a' && j.queue === 'default')).toBe(true);

    // A type with no jobs in the list changes nothing; the rest of lim.a in 'default' is 2, under the limit.
    const second = await repository.claimAvailable(['default'], ['lim.a', 'lim.none'], 10, 'limits');
    expect(second).toHaveLength(2);
    expect(second.every((j) => j.type === 'lim.a' && j.queue === 'default')).toBe(true);
    expect(await repository.claimAvailable(['default'], ['lim.a'], 10, 'limits')).toEqual([]);

    // The other type and the other queue were never touched.
    expect(await countJobs(db.url, `status = 'pending' AND type = 'lim.b'`)).toBe(5);
    expect(await countJobs(db.url, `status = 'pending' AND queue = 'other'`)).toBe(4);
    expect(await countJobs(db.url, `status = 'processing'`)).toBe(5);

    const both = await repository.claimAvailable(['default', 'other'], ['lim.a', 'lim.b'], 100, 'limits');
    expect(both).toHaveLength(9);
    await query(db.url, 'DELETE FROM job_queue.jobs');
  });

  it(`runs at most concurrency (${INSTANCE_CONCURRENCY}) jobs at once, and at most a handler's own concurrency of its type`, async () => {
    app = await startTestApp(
      { connectionUrl: db.url, concurrency: INSTANCE_CONCURRENCY, pollIntervalMs: 20, instanceId: 'limits-app' },
      [SlowHandlers],
    );
    const producer = app.get(JobProducer);
    const jobs = [
      ...Array.from({ length: 16 }, () => ({ type: 'limit.wide', payload: {} })),
      ...Array.from({ length: 10 }, () => ({ type: 'limit.narrow', payload: {} })),
    ];
    // The database's view, sampled while the jobs run. A slot frees when its handler settles, and the next claim may
    // commit before that attempt's completion is written (on another connection): rows held reach at most twice
    // the slots (`JobExecutor.claimable`), and twice a type's own concurrency. The handlers never exceed them.
    let maxProcessing = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const [row] = await query<{ all: number; narrow: number }>(
          db.url,
          `SELECT count(*)::int AS all, count(*) FILTER (WHERE type = 'limit.narrow')::int AS narrow
           FROM job_queue.jobs WHERE status = 'processing' AND locked_by = 'limits-app'`,
        );
        maxProcessing = Math.max(maxProcessing, row.all);
        expect(row.narrow).toBeLessThanOrEqual(2 * NARROW_CONCURRENCY);
      }
    })();
    const { ids } = await producer.enqueueMany(jobs);
    await waitFor('all jobs done', async () => done.length === ids.length && (await countJobs(db.url)) === 0);
    sampling = false;
    await sampler;

    expect(new Set(done)).toEqual(new Set(ids));
    // Saturated, never over: the instance filled its slots and the narrow type filled its own.
    expect(running.maxAll).toBe(INSTANCE_CONCURRENCY);
    expect(running.maxByType.get('limit.narrow')).toBe(NARROW_CONCURRENCY);
    expect(running.maxByType.get('limit.wide')).toBeLessThanOrEqual(INSTANCE_CONCURRENCY);
    expect(maxProcessing).toBeLessThanOrEqual(2 * INSTANCE_CONCURRENCY);
  });
});
