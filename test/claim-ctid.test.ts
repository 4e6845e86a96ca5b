import type { DataSource } from 'typeorm';
import { JobRepository, type ClaimedJob, type Lease } from '@app/job-queue/internal';
import { createTestDatabase, type TestDatabase } from './support/test-database';
import { query } from './support/sql';
import { jobRow, openDataSource, openRepository } from './support/queue-probes';

/**
 * The claim locks and updates the rows its walk found by their ctid (the row's place in the table). A ctid only says
 * where to look: the claim still checks the row it finds is pending, so a row that moved, or a place another row
 * took, is never mistaken for the job. A completion finds its row by primary key, whatever moved it since the claim,
 * and deletes it only while it carries the lease's token.
 */
describe('claims that find rows by ctid, completions of rows that moved', () => {
  let db: TestDatabase;
  let worker: { repository: JobRepository; dataSource: DataSource };
  let retainedSource: DataSource;
  let retained: JobRepository;

  beforeAll(async () => {
    db = await createTestDatabase();
    worker = await openRepository(db.url);
    retainedSource = await openDataSource(db.url, 2);
    retained = new JobRepository(retainedSource, 'job_queue', { keepFinished: true, maxResultBytes: 1_000 });
  });

  // Each test starts from an empty table: a claimed row left behind would be an expired lease to the next one's rescue.
  afterEach(async () => {
    await query(db.url, 'DELETE FROM job_queue.jobs');
  });

  afterAll(async () => {
    await worker?.dataSource.destroy();
    await retainedSource?.destroy();
    await db?.drop();
  });

  const insertJobs = async (type: string, n: number) =>
    (
      await query<{ id: string }>(
        db.url,
        `INSERT INTO job_queue.jobs (type, payload, status, max_attempts)
         SELECT $1, jsonb_build_object('n', g), 'pending', 5 FROM generate_series(1, $2::int) g RETURNING id`,
        [type, n],
      )
    ).map((r) => r.id);

  const ctidOf = async (id: string) =>
    (await query<{ ctid: string }>(db.url, 'SELECT ctid::text FROM job_queue.jobs WHERE id = $1', [id]))[0]?.ctid;

  const leaseOf = (job: ClaimedJob): Lease => ({ id: job.id, token: job.lock_token });

  it('claimers racing a writer that moves pending rows never share a job and lose none', async () => {
    const JOBS = 1_500;
    const ids = await insertJobs('ctid.race', JOBS);
    const claimers = await Promise.all([1, 2, 3, 4].map(() => openRepository(db.url, 1)));
    let claiming = true;
    // Moves pending rows while the claimers walk: a non-HOT update (an indexed column changes) and a HOT one
    // (nothing indexed changes), each giving the row a new ctid after the claimers' walks read the old one.
    const mover = (async () => {
      let moves = 0;
      while (claiming) {
        await query(
          db.url,
          `UPDATE job_queue.jobs SET created_at = created_at - interval '1 microsecond'
           WHERE id IN (SELECT id FROM job_queue.jobs WHERE type = 'ctid.race' AND status = 'pending'
                        ORDER BY random() LIMIT 20)`,
        );
        await query(
          db.url,
          `UPDATE job_queue.jobs SET payload = payload || '{"moved": true}'
           WHERE id IN (SELECT id FROM job_queue.jobs WHERE type = 'ctid.race' AND status = 'pending'
                        ORDER BY random() LIMIT 20)`,
        );
        moves++;
      }
      return moves;
    })();
    try {
      const results = await Promise.all(
        claimers.map(async ({ repository }, index) => {
          const mine: ClaimedJob[] = [];
          for (;;) {
            // Half the claimers serve one type (the one-level claim), half a second type too (the walk).
            const types = index % 2 === 0 ? ['ctid.race'] : ['ctid.race', 'ctid.none'];
            const batch = await repository.claimAvailable(['default'], types, 9, `claimer-${index}`);
            // A short claim can come from rows the mover took from under a walk: stop only when none is pending.
            if (batch.length === 0) {
              const [{ n }] = await query<{ n: number }>(
                db.url,
                `SELECT count(*)::int AS n FROM job_queue.jobs WHERE type = 'ctid.race' AND status = 'pending'`,
              );
              if (n === 0) return mine;
            }
            mine.push(...batch);
          }
        }),
      );
      claiming = false;
      expect(await mover).toBeGreaterThan(0);
      const all = results.flat();
      expect(all).toHaveLength(JOBS);
      expect(new Set(all.map((j) => j.id))).toEqual(new Set(ids));
      // Each row was claimed once, by the claimer that got it back, with the token it got back.
      const rows = await query<{ id: string; attempt_count: number; locked_by: string; lock_token: string }>(
        db.url,
        `SELECT id, attempt_count, locked_by, lock_token FROM job_queue.jobs WHERE type = 'ctid.race'`,
      );
      expect(rows.filter((r) => r.attempt_count !== 1)).toEqual([]);
      const owner = new Map<string, [string, string]>();
      results.forEach((jobs, index) => jobs.forEach((j) => owner.set(j.id, [`claimer-${index}`, j.lock_token])));
      expect(rows.filter((r) => owner.get(r.id)?.[0] !== r.locked_by || owner.get(r.id)?.[1] !== r.lock_token)).toEqual(
        [],
      );
    } finally {
      claiming = false;
      await mover.catch(() => undefined);
      for (const c of claimers) await c.dataSource.destroy().catch(() => undefined);
    }
  }, 120_000);

  it('a completion whose row moved (lease renewed, progress written) still completes, alone or with a claim', async () => {
    for (const repository of [worker.repository, retained]) {
      const [a, b, c] = await insertJobs('ctid.moved', 3);
      const claimed = await repository.claimAvailable(['default'], ['ctid.moved'], 3, 'worker-a');
      const [next] = await insertJobs('ctid.moved', 1);
      const lease = new Map(claimed.map((j) => [j.id, leaseOf(j)]));
      const [placeOfA, placeOfB] = [await ctidOf(a), await ctidOf(b)];
      expect(await repository.renewLeases([lease.get(a)!])).toEqual(new Set([a]));
      expect(await repository.writeProgress([{ ...lease.get(b)!, json: '{"pct": 50}' }])).toEqual(new Set([b]));
      expect(await ctidOf(a)).not.toBe(placeOfA);
      expect(await ctidOf(b)).not.toBe(placeOfB);

      expect(await repository.completeMany([lease.get(a)!])).toEqual(new Set([a]));
      const { jobs, completed } = await repository.completeAndClaim(
        [
          { ...lease.get(b)!, result: 'b' },
          { ...lease.get(c)!, result: 'c' },
        ],
        ['default'],
        ['ctid.moved'],
        5,
        'worker-a',
      );
      expect(completed).toEqual(new Set([b, c]));
      expect(jobs.map((j) => j.id)).toEqual([next]);
      for (const id of [a, b, c]) expect(await jobRow(db.url, id)).toBeUndefined();
      expect(await repository.completeMany([leaseOf(jobs[0])])).toEqual(new Set([next]));
    }
    const kept = await query<{ id: string; result: unknown }>(
      db.url,
      `SELECT id, result FROM job_queue.finished_jobs WHERE type = 'ctid.moved'`,
    );
    // Kept by the retaining repository only: its two completions with results and its two without.
    expect(kept.map((r) => r.result).sort()).toEqual(['b', 'c', null, null]);
  });

  it('a stale token cannot complete, alone or with a claim, once the job was rescued and claimed again', async () => {
    for (const repository of [worker.repository, retained]) {
      const [id] = await insertJobs('ctid.stale', 1);
      const [first] = await repository.claimAvailable(['default'], ['ctid.stale'], 1, 'worker-a');
      await query(db.url, `UPDATE job_queue.jobs SET locked_at = now() - interval '1 hour' WHERE id = $1`, [id]);
      const rescued = await repository.rescueExpired(1_000, 10, () => ({ retryInMs: 0 }), 'lease expired');
      expect(rescued.retried.map((j) => j.id)).toEqual([id]);
      const [second] = await repository.claimAvailable(['default'], ['ctid.stale'], 1, 'worker-b');
      expect(second.id).toBe(id);
      const before = await jobRow(db.url, id);

      const stale = leaseOf(first);
      expect(await repository.completeMany([stale])).toEqual(new Set());
      const { completed } = await repository.completeAndClaim([stale], ['default'], ['ctid.stale'], 1, 'worker-a');
      expect(completed).toEqual(new Set());
      expect(await jobRow(db.url, id)).toEqual(before);
      expect(await repository.completeMany([leaseOf(second)])).toEqual(new Set([id]));
    }
  });

  it('a lease with another job’s id and its own claim’s token completes nothing; each lease completes its own job', async () => {
    for (const repository of [worker.repository, retained]) {
      const ids = await insertJobs('ctid.swapped', 2);
      // Two claims: the jobs of one claim share its token, so only a token of another claim is another lease.
      const [mine] = await repository.claimAvailable(['default'], ['ctid.swapped'], 1, 'worker-a');
      const [other] = await repository.claimAvailable(['default'], ['ctid.swapped'], 1, 'worker-a');
      expect([mine.id, other.id].sort()).toEqual([...ids].sort());
      expect(other.lock_token).not.toBe(mine.lock_token);
      const otherBefore = await jobRow(db.url, other.id);
      expect(await repository.completeMany([{ id: other.id, token: mine.lock_token }])).toEqual(new Set());
      expect(await jobRow(db.url, other.id)).toEqual(otherBefore);
      expect(await repository.completeMany([leaseOf(mine), leaseOf(other)])).toEqual(new Set([mine.id, other.id]));
      expect(await jobRow(db.url, mine.id)).toBeUndefined();
      expect(await jobRow(db.url, other.id)).toBeUndefined();
    }
  });
});
