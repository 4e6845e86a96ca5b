import {
  claimOneLevel,
  completeAndClaimOneLevel,
  JobRepository,
  queueTables,
  type ClaimedJob,
} from '@app/job-queue/internal';
import { createTestDatabase, type TestDatabase } from './support/test-database';
import { query, withClient } from './support/sql';
import { openRepository } from './support/queue-probes';
import { explainClaim } from './support/explain-claim';
import type { DataSource } from 'typeorm';

/**
 * The one-level claim serves one (queue, type) pair whose pending rows share one priority, and claims nothing where
 * another level exists, saying so with a row whose id is null; the repository then claims with the walk. These run
 * the statement itself, then the repository's claims that choose between the two.
 */
describe('the one-level claim', () => {
  let db: TestDatabase;
  let worker: { repository: JobRepository; dataSource: DataSource };
  const tables = queueTables('job_queue');

  beforeAll(async () => {
    db = await createTestDatabase();
    worker = await openRepository(db.url);
  });

  afterEach(async () => {
    await query(db.url, 'DELETE FROM job_queue.jobs');
    await query(db.url, 'DELETE FROM job_queue.queues');
  });

  afterAll(async () => {
    await worker?.dataSource.destroy();
    await db?.drop();
  });

  /** Inserts pending rows of `type`: `runAt` an SQL expression of `g` (1..n), at `priority`; ids in insert order. */
  const insert = async (
    type: string,
    n: number,
    runAt = `now() - interval '1 hour' + g * interval '1 second'`,
    priority = 0,
  ) =>
    (
      await query<{ id: string }>(
        db.url,
        `INSERT INTO job_queue.jobs (type, payload, status, priority, max_attempts, next_retry_at)
         SELECT $1, '{}', 'pending', $3, 5, ${runAt} FROM generate_series(1, $2::int) g ORDER BY g RETURNING id`,
        [type, n, priority],
      )
    ).map((r) => r.id);

  /** Runs the one-level claim for ('default', type) as the repository would, without a cursor unless given. */
  const claimOnce = (type: string, limit: number, cursor: [number, number] | [null, null] = [null, null]) =>
    query<ClaimedJob>(db.url, claimOneLevel(tables).text, [['default'], [type], limit, 'one-level', ...cursor]);

  /** Claimed ids as a sorted list: a claim returns its rows in the order it updated them, not in claim order. */
  const idsOf = (jobs: Array<{ id: string | null }>) => jobs.map((j) => j.id).sort();

  const pendingIn = async (type: string) =>
    (
      await query<{ n: number }>(
        db.url,
        `SELECT count(*)::int AS n FROM job_queue.jobs WHERE type = $1 AND status = 'pending'`,
        [type],
      )
    )[0].n;

  const claimOrder = async (type: string) =>
    (
      await query<{ id: string }>(
        db.url,
        `SELECT id FROM job_queue.jobs WHERE type = $1 AND status = 'pending' AND next_retry_at <= now()
         ORDER BY priority DESC, next_retry_at, created_at, id`,
        [type],
      )
    ).map((r) => r.id);

  it('claims the due rows of one level in claim order, up to its limit, and none scheduled later', async () => {
    await insert('one.order', 30);
    const future = await insert('one.order', 5, `now() + g * interval '1 hour'`);
    const expected = (await claimOrder('one.order')).slice(0, 12);
    const claimed = await claimOnce('one.order', 12);
    expect(idsOf(claimed)).toEqual([...expected].sort());
    expect(claimed.every((j) => j.lock_token !== null)).toBe(true);
    // The rest, then nothing: the future rows stay pending and no row says "several levels".
    expect(await claimOnce('one.order', 100)).toHaveLength(18);
    expect(await claimOnce('one.order', 100)).toEqual([]);
    const left = await query<{ id: string }>(db.url, `SELECT id FROM job_queue.jobs WHERE status = 'pending'`);
    expect(left.map((r) => r.id).sort()).toEqual([...future].sort());
  });

  it('reads no row scheduled later: 50,000 of them behind 10 due rows cost a few hundred buffers at most', async () => {
    await insert('one.future', 50_000, `now() + interval '1 hour' + g * interval '1 second'`);
    await insert('one.future', 10);
    await query(db.url, 'VACUUM ANALYZE job_queue.jobs');
    for (const generic of [false, true]) {
      const plan = await explainClaim(db.url, { types: ['one.future'], limit: 100, generic, oneLevel: true });
      expect({ generic, claimed: plan.claimed }).toEqual({ generic, claimed: 10 });
      expect(plan.buffers).toBeLessThan(400);
    }
  });

  it('claims nothing and says so where the pair has pending rows at another level, above or below', async () => {
    for (const [low, high] of [
      [0, 5],
      [-3, 0],
    ]) {
      await insert('one.levels', 4, undefined, low);
      // A level present only in the future counts too: the walk would claim across it.
      await insert('one.levels', 1, `now() + interval '1 hour'`, high);
      const rows = await claimOnce('one.levels', 10);
      expect(rows).toHaveLength(1);
      expect(rows[0].id).toBeNull();
      expect(await pendingIn('one.levels')).toBe(5);
      await query(db.url, 'DELETE FROM job_queue.jobs');
    }
  });

  it('from a cursor: the cursor’s level from its run-at, only rows no transaction left a lock on', async () => {
    const ids = await insert('one.cursor', 6, `now() - (7 - g) * interval '1 minute'`);
    const [atCursor] = await query<{ ms: number }>(
      db.url,
      `SELECT (extract(epoch FROM next_retry_at) * 1000)::float8 AS ms FROM job_queue.jobs WHERE id = $1`,
      [ids[2]],
    );
    // A lock that ended leaves its xmax on the row: the cursor's claim passes over it, the head's takes it.
    await withClient(db.url, async (client) => {
      await client.query('BEGIN');
      await client.query('SELECT 1 FROM job_queue.jobs WHERE id = $1 FOR UPDATE', [ids[4]]);
      await client.query('COMMIT');
    });
    const fromCursor = await claimOnce('one.cursor', 10, [0, atCursor.ms]);
    expect(idsOf(fromCursor)).toEqual([ids[2], ids[3], ids[5]].sort());
    // A cursor at a level the pair no longer has: nothing claimed, several levels said (the walk then serves it).
    const elsewhere = await claimOnce('one.cursor', 10, [7, atCursor.ms]);
    expect(elsewhere.map((j) => j.id)).toEqual([null]);
    const fromHead = await claimOnce('one.cursor', 10);
    expect(idsOf(fromHead)).toEqual([ids[0], ids[1], ids[4]].sort());
  });

  it('claims nothing from a paused queue', async () => {
    await insert('one.paused', 3);
    await query(db.url, `INSERT INTO job_queue.queues (name, paused) VALUES ('default', true)`);
    expect(await claimOnce('one.paused', 10)).toEqual([]);
    await query(db.url, `UPDATE job_queue.queues SET paused = false`);
    expect(await claimOnce('one.paused', 10)).toHaveLength(3);
  });

  it('completes its leases even when it claims nothing for several levels, in the same statement', async () => {
    await insert('one.complete', 3);
    const done = await claimOnce('one.complete', 2);
    await insert('one.complete', 1, undefined, 9);
    const rows = await query<{ done: boolean | null; id: string | null }>(
      db.url,
      completeAndClaimOneLevel(tables).text,
      [
        ['default'],
        ['one.complete'],
        10,
        'one-level',
        done.map((j) => j.id),
        done.map((j) => j.lock_token),
        null,
        null,
      ],
    );
    expect(
      rows
        .filter((r) => r.done === true)
        .map((r) => r.id)
        .sort(),
    ).toEqual(done.map((j) => j.id).sort());
    expect(rows.filter((r) => r.done !== true)).toEqual([expect.objectContaining({ done: null, id: null })]);
    expect(await pendingIn('one.complete')).toBe(2);
  });

  it('through the repository: several levels are claimed by the walk, highest first, with completions', async () => {
    const { repository } = worker;
    const low = await insert('one.repo', 3, undefined, 0);
    const high = await insert('one.repo', 2, undefined, 5);
    const first = await repository.claimAvailable(['default'], ['one.repo'], 3, 'repo');
    expect(idsOf(first)).toEqual([...high, low[0]].sort());
    const { jobs, completed } = await repository.completeAndClaim(
      first.map((j) => ({ id: j.id, token: j.lock_token })),
      ['default'],
      ['one.repo'],
      10,
      'repo',
    );
    expect(completed).toEqual(new Set(first.map((j) => j.id)));
    expect(idsOf(jobs)).toEqual(low.slice(1).sort());
    expect(await pendingIn('one.repo')).toBe(0);
  });
});
