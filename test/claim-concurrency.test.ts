import type { DataSource } from 'typeorm';
import type { ClaimedJob, JobRepository } from '@app/job-queue/internal';
import { createTestDatabase, type TestDatabase } from './support/test-database';
import { query } from './support/sql';
import { openRepository } from './support/queue-probes';

const CLAIMERS = 8;
const JOBS = 2_000;
const BATCH = 7;

describe('claim under contention: 8 claimers on 8 connections over 2,000 jobs', () => {
  let db: TestDatabase;
  const claimers: Array<{ repository: JobRepository; dataSource: DataSource }> = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    for (let i = 0; i < CLAIMERS; i++) claimers.push(await openRepository(db.url, 1));
  });

  afterAll(async () => {
    for (const c of claimers) await c.dataSource.destroy().catch(() => undefined);
    await db?.drop();
  });

  it('claims every job exactly once, loses none, and never more than the batch limit per claim', async () => {
    const inserted = await query<{ id: string }>(
      db.url,
      `INSERT INTO job_queue.jobs (type, payload, status, priority, max_attempts)
       SELECT 'race.job', jsonb_build_object('n', g), 'pending', g % 3, 5 FROM generate_series(1, ${JOBS}) g
       RETURNING id`,
    );
    expect(inserted).toHaveLength(JOBS);

    const oversized: number[] = [];
    const batches: ClaimedJob[][] = [];
    const results = await Promise.all(
      claimers.map(async ({ repository }, index) => {
        const mine: ClaimedJob[] = [];
        for (;;) {
          const batch = await repository.claimAvailable(['default'], ['race.job'], BATCH, `claimer-${index}`);
          if (batch.length > BATCH) oversized.push(batch.length);
          if (batch.length === 0) return mine;
          batches.push(batch);
          mine.push(...batch);
        }
      }),
    );

    expect(oversized).toEqual([]);
    const all = results.flat();
    const ids = all.map((j) => j.id);
    // Exactly once: as many claims as jobs, no id twice, and the claimed set is the inserted set.
    expect(ids).toHaveLength(JOBS);
    expect(new Set(ids).size).toBe(JOBS);
    expect(new Set(ids)).toEqual(new Set(inserted.map((r) => r.id)));
    // One token a claim: the jobs of a claim share it, and no two claims drew the same.
    expect(batches.filter((b) => new Set(b.map((j) => j.lock_token)).size !== 1)).toEqual([]);
    expect(new Set(batches.map((b) => b[0].lock_token)).size).toBe(batches.length);
    // The race was real: work was split between claimers.
    expect(results.filter((r) => r.length > 0).length).toBeGreaterThan(1);

    // The database agrees: nothing left pending, each row claimed once, by the claimer that got it back.
    const owner = new Map<string, string>();
    results.forEach((jobs, index) => jobs.forEach((j) => owner.set(j.id, `claimer-${index}`)));
    const rows = await query<{
      id: string;
      status: string;
      attempt_count: number;
      locked_by: string;
      lock_token: string;
    }>(db.url, 'SELECT id, status, attempt_count, locked_by, lock_token FROM job_queue.jobs');
    expect(rows).toHaveLength(JOBS);
    expect(rows.filter((r) => r.status !== 'processing' || r.attempt_count !== 1)).toEqual([]);
    expect(rows.filter((r) => r.locked_by !== owner.get(r.id))).toEqual([]);
    const tokens = new Map(all.map((j) => [j.id, j.lock_token]));
    expect(rows.filter((r) => r.lock_token !== tokens.get(r.id))).toEqual([]);
  });
});
