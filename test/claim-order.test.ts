import type { INestApplicationContext } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { JobProducer } from '@app/job-queue';
import type { ClaimedJob, JobRepository } from '@app/job-queue/internal';
import { createTestDatabase, type TestDatabase } from './support/test-database';
import { startTestApp } from './support/test-app';
import { query } from './support/sql';
import { waitFor } from './support/wait-for';
import { dbNow, jobRow, openRepository } from './support/queue-probes';

describe('claim order: priority, then run-at, then created_at; delayed jobs wait for their time', () => {
  let db: TestDatabase;
  let claimer: { repository: JobRepository; dataSource: DataSource };
  let producerApp: INestApplicationContext;

  beforeAll(async () => {
    db = await createTestDatabase();
    claimer = await openRepository(db.url);
    // A producer-only instance (concurrency 0): nothing here claims but the test.
    producerApp = await startTestApp({ connectionUrl: db.url, concurrency: 0 });
  });

  afterAll(async () => {
    await producerApp?.close();
    await claimer?.dataSource.destroy();
    await db?.drop();
  });

  const claimOne = (type: string) => claimer.repository.claimAvailable(['default'], [type], 1, 'order');

  it('claims higher priority first, then the earlier run-at, then the earlier created_at', async () => {
    // Times are relative to the database's now(); the future job must never be claimed.
    await query(
      db.url,
      `INSERT INTO job_queue.jobs (type, payload, status, priority, max_attempts, next_retry_at, created_at)
       SELECT 'ord.job', jsonb_build_object('name', name), 'pending', priority, 3,
              now() + run_at * interval '1 second', now() + created * interval '1 second'
       FROM (VALUES
         ('p0-run-3s',         0,   -3,  -1),
         ('p5-run-1s',         5,   -1,  -1),
         ('p0-run-5s-made-9s', 0,   -5,  -9),
         ('p5-run-2s',         5,   -2,  -1),
         ('p0-run-5s-made-10s',0,   -5, -10),
         ('p-1-run-100s',     -1, -100, -100),
         ('p100-future',     100, 3600,  -1)
       ) v(name, priority, run_at, created)`,
    );
    const order: string[] = [];
    for (;;) {
      const [job] = await claimOne('ord.job');
      if (!job) break;
      order.push((job.payload as { name: string }).name);
    }
    expect(order).toEqual([
      'p5-run-2s',
      'p5-run-1s',
      'p0-run-5s-made-10s',
      'p0-run-5s-made-9s',
      'p0-run-3s',
      'p-1-run-100s',
    ]);
    expect(await query(db.url, `SELECT status FROM job_queue.jobs WHERE payload->>'name' = 'p100-future'`)).toEqual([
      { status: 'pending' },
    ]);
  });

  it('a batch claim takes the first jobs of that order, not any jobs', async () => {
    await query(
      db.url,
      `INSERT INTO job_queue.jobs (type, payload, status, priority, max_attempts, next_retry_at)
       SELECT 'ord.batch', jsonb_build_object('n', g), 'pending', g, 3, now() - interval '1 second'
       FROM generate_series(1, 50) g`,
    );
    const batch = await claimer.repository.claimAvailable(['default'], ['ord.batch'], 5, 'order');
    expect(batch.map((j) => j.priority).sort((a, b) => b - a)).toEqual([50, 49, 48, 47, 46]);
  });

  it('does not claim a delayed job (delayMs or runAt) before its time by the database clock', async () => {
    const producer = producerApp.get(JobProducer);
    const delayed = await producer.enqueue('ord.delayed', { kind: 'delayMs' }, { delayMs: 700 });
    const runAt = new Date((await dbNow(db.url)).getTime() + 900);
    const scheduled = await producer.enqueue('ord.delayed', { kind: 'runAt' }, { runAt });

    // The run-at is computed by the database: exactly created_at + delayMs, or exactly the given runAt.
    const [times] = await query<{ delay_ms: number; run_at: Date }>(
      db.url,
      `SELECT (SELECT (extract(epoch FROM next_retry_at - created_at) * 1000)::float8 FROM job_queue.jobs WHERE id = $1) AS delay_ms,
              (SELECT next_retry_at FROM job_queue.jobs WHERE id = $2) AS run_at`,
      [delayed.id, scheduled.id],
    );
    expect(times.delay_ms).toBe(700);
    expect(times.run_at.getTime()).toBe(runAt.getTime());
    const runAtOf = new Map<string, Date>([
      [delayed.id, (await jobRow(db.url, delayed.id))!.next_retry_at],
      [scheduled.id, runAt],
    ]);

    const claimed: ClaimedJob[] = [];
    let provenEarly = 0;
    await waitFor(
      'both delayed jobs claimed',
      async () => {
        const jobs = await claimer.repository.claimAvailable(['default'], ['ord.delayed'], 10, 'order');
        // Read the clock after the claim: if it is still before a run-at, so was the claim, and it must not have it.
        const after = await dbNow(db.url);
        for (const [id, at] of runAtOf) {
          if (after < at && !claimed.some((j) => j.id === id)) {
            expect(jobs.map((j) => j.id)).not.toContain(id);
            provenEarly += 1;
          }
        }
        claimed.push(...jobs);
        return claimed.length === 2;
      },
      5_000,
      20,
    );

    // Claimed, and only at or after its run-at by the clock of the claim statement itself.
    for (const job of claimed) expect(job.claimed_at_ms).toBeGreaterThanOrEqual(runAtOf.get(job.id)!.getTime());
    expect(provenEarly).toBeGreaterThan(0);
  });
});
