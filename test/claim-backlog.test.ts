import type { DataSource } from 'typeorm';
import type { JobRepository } from '@app/job-queue/internal';
import { createTestDatabase, type TestDatabase } from './support/test-database';
import { query } from './support/sql';
import { openRepository } from './support/queue-probes';
import { backlogReaders, explainClaim } from './support/explain-claim';

/**
 * A claim's cost must follow what it returns, not rows it cannot take. Buffers touched by one claim of 10 (from
 * EXPLAIN ANALYZE, a count, not a timing) stand for that cost: a claim that walks a backlog touches thousands.
 */
describe('a claim reads only rows it can take', () => {
  let db: TestDatabase;
  let claimer: { repository: JobRepository; dataSource: DataSource };
  /** Well above what 10 rows cost (a few probes each), far below what walking 100,000 rows costs. */
  const FEW_BUFFERS = 400;

  beforeAll(async () => {
    db = await createTestDatabase();
    claimer = await openRepository(db.url);
    // Statistics as autovacuum would keep them: this is about the index's shape, not about wrong statistics.
    await query(db.url, `ALTER TABLE job_queue.jobs SET (autovacuum_enabled = false)`);
  });

  beforeEach(async () => {
    await query(db.url, `DELETE FROM job_queue.jobs`);
  });

  afterAll(async () => {
    await claimer?.dataSource.destroy();
    await db?.drop();
  });

  const claim = (types: string[], limit: number) =>
    claimer.repository.claimAvailable(['default'], types, limit, 'backlog');

  it('does not read the backlog of a type it does not serve, or of another queue, due before its own jobs', async () => {
    await query(
      db.url,
      `INSERT INTO job_queue.jobs (queue, type, payload, status, priority, max_attempts, next_retry_at, created_at)
       SELECT CASE WHEN g % 2 = 0 THEN 'default' ELSE 'reports' END, CASE WHEN g % 2 = 0 THEN 'other.type' ELSE 'mine.a' END,
              '{}', 'pending', 5, 3, now() - interval '1 hour', now() - interval '1 hour'
       FROM generate_series(1, 100000) g`,
    );
    await query(
      db.url,
      `INSERT INTO job_queue.jobs (type, payload, status, max_attempts, next_retry_at, created_at)
       SELECT CASE WHEN g % 2 = 0 THEN 'mine.a' ELSE 'mine.b' END, jsonb_build_object('n', g), 'pending', 3,
              now() - interval '1 minute' + g * interval '1 ms', now() - interval '1 minute'
       FROM generate_series(1, 40) g`,
    );
    await query(db.url, `ANALYZE job_queue.jobs`);

    for (const generic of [false, true]) {
      const plan = await explainClaim(db.url, { types: ['mine.a', 'mine.b'], limit: 10, generic });
      expect({ generic, claimed: plan.claimed, readers: backlogReaders(plan, 2) }).toEqual({
        generic,
        claimed: 10,
        readers: [],
      });
      expect(plan.buffers).toBeLessThan(FEW_BUFFERS);
    }
    // And the rows it takes are its own, the first ten in run-at order across both types.
    const jobs = await claim(['mine.a', 'mine.b'], 10);
    expect(jobs.map((j) => [j.queue, j.type.startsWith('mine.')])).toEqual(Array(10).fill(['default', true]));
    expect(jobs.map((j) => (j.payload as { n: number }).n).sort((a, b) => a - b)).toEqual([
      1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
    ]);
  }, 120_000);

  it('does not walk jobs scheduled in the future, whatever their priority', async () => {
    // High-priority jobs far in the future sit before due low-priority ones in claim order.
    await query(
      db.url,
      `INSERT INTO job_queue.jobs (type, payload, status, priority, max_attempts, next_retry_at)
       SELECT 'mine.a', '{}', 'pending', g % 3 * 10, 3, now() + interval '1 day'
       FROM generate_series(1, 100000) g`,
    );
    await query(
      db.url,
      `INSERT INTO job_queue.jobs (type, payload, status, priority, max_attempts)
       SELECT 'mine.a', jsonb_build_object('n', g), 'pending', -1, 3 FROM generate_series(1, 5) g`,
    );
    await query(db.url, `ANALYZE job_queue.jobs`);

    for (const generic of [false, true]) {
      const plan = await explainClaim(db.url, { types: ['mine.a'], limit: 10, generic });
      expect({ generic, claimed: plan.claimed, readers: backlogReaders(plan, 1) }).toEqual({
        generic,
        claimed: 5,
        readers: [],
      });
      expect(plan.buffers).toBeLessThan(FEW_BUFFERS);
    }
    const jobs = await claim(['mine.a'], 10);
    expect(jobs.map((j) => (j.payload as { n: number }).n).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5]);
  }, 120_000);
});
