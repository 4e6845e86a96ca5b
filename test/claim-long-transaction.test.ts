import { Client } from 'pg';
import type { DataSource } from 'typeorm';
import { cursorAfter, type ClaimCursor, type JobRepository, type Lease } from '@app/job-queue/internal';
import { createTestDatabase, type TestDatabase } from './support/test-database';
import { query } from './support/sql';
import { openRepository } from './support/queue-probes';
import { explainClaim } from './support/explain-claim';

/**
 * While another session holds a snapshot, nothing can remove, or mark dead, the index entries of the rows the queue
 * has claimed and completed since: they pile up at the head of the claim index. A claim that walked from the head
 * would visit all of them, every time. Buffers touched by one claim (EXPLAIN ANALYZE, a count, not a timing) show it.
 */
describe('a long transaction elsewhere: claims do not walk the dead entries it keeps', () => {
  let db: TestDatabase;
  let claimer: { repository: JobRepository; dataSource: DataSource };
  let holder: Client;
  /** A claim of 10 from its cursor; walking 20,000 dead entries costs tens of thousands of buffers. */
  const FEW_BUFFERS = 400;

  beforeAll(async () => {
    db = await createTestDatabase();
    claimer = await openRepository(db.url);
    await query(db.url, `ALTER TABLE job_queue.jobs SET (autovacuum_enabled = false)`);
    holder = new Client({ connectionString: db.url });
    await holder.connect();
  });

  afterAll(async () => {
    await holder?.end();
    await claimer?.dataSource.destroy();
    await db?.drop();
  });

  it('claims from the cursor past them while the snapshot is held, and go on so once it ends', async () => {
    // Stamped 1 ms apart, as a steady producer would.
    await query(
      db.url,
      `INSERT INTO job_queue.jobs (type, payload, status, max_attempts, next_retry_at, created_at)
       SELECT 'lt.job', '{}', 'pending', 3, now() - interval '1 minute' + g * interval '1 ms', now() - interval '1 minute'
       FROM generate_series(1, 25000) g`,
    );
    await query(db.url, `VACUUM ANALYZE job_queue.jobs`);
    await holder.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
    await holder.query('SELECT count(*) FROM job_queue.jobs');

    // The poller's cycle under load: complete the previous batch and claim the next from the cursor.
    let leases: Lease[] = [];
    let cursor: ClaimCursor | undefined;
    let processed = 0;
    while (processed < 20_000) {
      const { jobs } = await claimer.repository.completeAndClaim(leases, ['default'], ['lt.job'], 500, 'lt', cursor);
      expect(jobs).toHaveLength(500);
      leases = jobs.map((j) => ({ id: j.id, token: j.lock_token }));
      cursor = cursorAfter(jobs);
      processed += jobs.length;
    }
    await claimer.repository.completeAndClaim(leases, ['default'], ['lt.job'], 0, 'lt', cursor);

    // From the head the claim visits every dead entry's row (this is what the cursor avoids); from the cursor, few.
    const fromHead = await explainClaim(db.url, { types: ['lt.job'], limit: 10 });
    expect(fromHead.claimed).toBe(10);
    expect(fromHead.heapFetches).toBeGreaterThanOrEqual(19_000);
    for (const generic of [false, true]) {
      const fromCursor = await explainClaim(db.url, { types: ['lt.job'], limit: 10, cursor, generic });
      expect({ generic, claimed: fromCursor.claimed }).toEqual({ generic, claimed: 10 });
      expect(fromCursor.buffers).toBeLessThan(FEW_BUFFERS);
    }

    // Once the snapshot is gone the loop goes on from its cursor as before: nothing to catch up on.
    await holder.query('COMMIT');
    const after = await explainClaim(db.url, { types: ['lt.job'], limit: 10, cursor });
    expect(after.claimed).toBe(10);
    expect(after.buffers).toBeLessThan(FEW_BUFFERS);
  }, 180_000);
});
