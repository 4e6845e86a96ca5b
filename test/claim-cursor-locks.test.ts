import { Injectable } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { JobHandler, type JobContext } from '@app/job-queue';
import type { ClaimCursor, JobRepository } from '@app/job-queue/internal';
import { createTestDatabase, type TestDatabase } from './support/test-database';
import { startTestApp } from './support/test-app';
import { query, withClient } from './support/sql';
import { openRepository } from './support/queue-probes';
import { waitFor } from './support/wait-for';

/**
 * A claim from a cursor locks only row versions no transaction has locked or updated: a version another instance
 * claimed since the claim's snapshot would be followed, rechecked and left locked by this claim, its owner's
 * completion waiting behind it. The walk from the head checks nothing of the kind, so a pending row that still
 * carries an ended lock is claimed by it, never left behind.
 */
describe('claims from a cursor pass over rows that carry a lock', () => {
  let db: TestDatabase;
  let claimer: { repository: JobRepository; dataSource: DataSource };
  /** Before every job of these tests: a walk from this cursor starts at the head of the default level. */
  const CURSOR: ClaimCursor = { priority: 0, runAtMs: 0 };

  beforeAll(async () => {
    db = await createTestDatabase();
    claimer = await openRepository(db.url);
  });

  afterEach(async () => {
    await query(db.url, 'DELETE FROM job_queue.jobs');
  });

  afterAll(async () => {
    await claimer?.dataSource.destroy();
    await db?.drop();
  });

  /** `n` pending jobs of `type`, stamped 1 ms apart in the past, in claim order. */
  const insertJobs = async (type: string, n: number) =>
    (
      await query<{ id: string }>(
        db.url,
        `INSERT INTO job_queue.jobs (type, payload, status, max_attempts, next_retry_at)
         SELECT $1, '{}', 'pending', 5, now() - interval '1 minute' + g * interval '1 ms'
         FROM generate_series(1, $2::int) g ORDER BY g RETURNING id`,
        [type, n],
      )
    ).map((r) => r.id);

  /** Locks the rows in a transaction that commits: their versions keep the lock's `xmax`, no lock is held. */
  const lockAndCommit = (ids: string[]) =>
    withClient(db.url, async (c) => {
      await c.query('BEGIN');
      await c.query('SELECT id FROM job_queue.jobs WHERE id = ANY ($1::uuid[]) FOR UPDATE', [ids]);
      await c.query('COMMIT');
    });

  it('skips them from the cursor, alone or with completions; the walk from the head takes them', async () => {
    const ids = await insertJobs('cl.sql', 8);
    const marked = [ids[1], ids[4]];
    await lockAndCommit(marked);

    const first = await claimer.repository.claimAvailable(['default'], ['cl.sql'], 3, 'cl', CURSOR);
    expect(first.map((j) => j.id)).toEqual([ids[0], ids[2], ids[3]]);
    // The same walk inside the statement that also completes the jobs of the previous claim.
    const leases = first.map((j) => ({ id: j.id, token: j.lock_token }));
    const second = await claimer.repository.completeAndClaim(leases, ['default'], ['cl.sql'], 10, 'cl', CURSOR);
    expect([...second.completed].sort()).toEqual(first.map((j) => j.id).sort());
    expect(second.jobs.map((j) => j.id)).toEqual([ids[5], ids[6], ids[7]]);

    const fromHead = await claimer.repository.claimAvailable(['default'], ['cl.sql'], 10, 'cl');
    expect(fromHead.map((j) => j.id)).toEqual(marked);
  });

  it('a worker under a backlog runs every job once, those that carry a lock too', async () => {
    const ran = new Map<string, number>();
    @Injectable()
    class CountingHandlers {
      @JobHandler('cl.worker')
      async run(_: unknown, ctx: JobContext) {
        ran.set(ctx.id, (ran.get(ctx.id) ?? 0) + 1);
      }
    }
    const ids = await insertJobs('cl.worker', 3_000);
    // Spread through the backlog, where claims from the cursor meet them.
    const marked = ids.filter((_, i) => i % 250 === 100);
    await lockAndCommit(marked);
    const app = await startTestApp({ connectionUrl: db.url, concurrency: 10, prefetch: 100, pollIntervalMs: 200 }, [
      CountingHandlers,
    ]);
    try {
      await waitFor('every job run', async () => ran.size === ids.length, 60_000);
      await waitFor(
        'every job completed',
        async () => (await query(db.url, `SELECT 1 FROM job_queue.jobs WHERE type = 'cl.worker'`)).length === 0,
      );
      expect([...ran.values()].every((n) => n === 1)).toBe(true);
      expect(marked.every((id) => ran.has(id))).toBe(true);
    } finally {
      await app.close();
    }
  });
});
