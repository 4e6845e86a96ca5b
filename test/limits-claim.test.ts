import type { DataSource } from 'typeorm';
import { limitsOf, type JobLimits, type JobRepository } from '@app/job-queue/internal';
import { createTestDatabase, type TestDatabase } from './support/test-database';
import { query } from './support/sql';
import { openRepository } from './support/queue-probes';

/**
 * The limited claim against PostgreSQL, called as the poller calls it: limits hold across concurrent claimers, keys
 * are served in turn, a rate window says when it has room again, and a crashed instance's slot is held until
 * recovery takes its job back.
 */
describe('limited claim', () => {
  let db: TestDatabase;
  const claimers: Array<{ repository: JobRepository; dataSource: DataSource }> = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    for (let i = 0; i < 4; i++) claimers.push(await openRepository(db.url, 4));
  });

  afterAll(async () => {
    for (const c of claimers) await c.dataSource.destroy();
    await db?.drop();
  });

  const limits = (options: Parameters<typeof limitsOf>[0]): JobLimits => limitsOf(options, 'test')!;

  async function insert(type: string, key: string | null, count: number): Promise<void> {
    await query(
      db.url,
      `INSERT INTO job_queue.jobs (type, payload, status, max_attempts, concurrency_key, created_at)
       SELECT $1, jsonb_build_object('n', n), 'pending', 3, $2, now() + n * interval '1 microsecond'
       FROM generate_series(1, $3) n`,
      [type, key, count],
    );
  }

  const running = async (type: string) =>
    (
      await query<{ key: string | null; n: number }>(
        db.url,
        `SELECT concurrency_key AS key, count(*)::int AS n FROM job_queue.jobs
         WHERE type = $1 AND status = 'processing' GROUP BY 1 ORDER BY 1`,
        [type],
      )
    ).map((r) => [r.key, r.n]);

  it('takes nothing of a paused queue, and the claim after the resume takes its jobs', async () => {
    await insert('lim.paused', 'A', 3);
    const lim = limits({ concurrencyPerKey: 5 });
    const claim = () => claimers[0].repository.claimLimited([], ['default'], 'lim.paused', lim, 5, 'paused-test');
    await query(db.url, `INSERT INTO job_queue.queues (name, paused, paused_at) VALUES ('default', true, now())`);
    try {
      expect((await claim()).jobs).toEqual([]);
    } finally {
      await query(db.url, `UPDATE job_queue.queues SET paused = false WHERE name = 'default'`);
    }
    expect((await claim()).jobs).toHaveLength(3);
    await query(db.url, `DELETE FROM job_queue.jobs WHERE type = 'lim.paused'`);
  });

  it('global concurrency: concurrent claims of 4 instances never pass the limit; a completion frees a slot', async () => {
    await insert('lim.global', null, 50);
    const lim = limits({ globalConcurrency: 3 });
    const claims = await Promise.all(
      claimers.flatMap((c, i) =>
        [0, 1, 2].map(() => c.repository.claimLimited([], ['default'], 'lim.global', lim, 5, `i${i}`)),
      ),
    );
    const claimed = claims.flatMap((c) => c.jobs);
    expect(claimed).toHaveLength(3);
    expect(await running('lim.global')).toEqual([[null, 3]]);
    expect(claims.some((c) => c.held.includes('global'))).toBe(true);
    // The completion travels with the next claim, is written before the count, and frees its slot to that claim.
    const done = claimed[0];
    const next = await claimers[0].repository.claimLimited(
      [{ id: done.id, token: done.lock_token }],
      ['default'],
      'lim.global',
      lim,
      5,
      'i0',
    );
    expect(next.completed).toEqual(new Set([done.id]));
    expect(next.jobs).toHaveLength(1);
    expect(await running('lim.global')).toEqual([[null, 3]]);
  });

  it('per-key concurrency: round-robin across keys, a key at its limit does not block the others', async () => {
    await insert('lim.key', 'A', 300);
    await insert('lim.key', 'B', 3);
    await insert('lim.key', 'C', 3);
    const lim = limits({ concurrencyPerKey: 2 });
    const keysOf = async (room: number) => {
      const claim = await claimers[1].repository.claimLimited([], ['default'], 'lim.key', lim, room, 'k');
      const keys = await query<{ k: string }>(
        db.url,
        `SELECT concurrency_key AS k FROM job_queue.jobs j JOIN unnest($1::uuid[]) WITH ORDINALITY u(id, o)
         ON j.id = u.id ORDER BY u.o`,
        [claim.jobs.map((j) => j.id)],
      );
      return { keys: keys.map((r) => r.k).join(''), held: claim.held };
    };
    expect(await keysOf(5)).toEqual({ keys: 'ABCAB', held: [] });
    expect(await keysOf(5)).toEqual({ keys: 'C', held: ['key'] });
    expect(await running('lim.key')).toEqual([
      ['A', 2],
      ['B', 2],
      ['C', 2],
    ]);
    expect(await keysOf(5)).toEqual({ keys: '', held: ['key'] });
  });

  it('a crashed instance holds its slot until recovery takes the job back, then the slot is free', async () => {
    await insert('lim.crash', 'T', 5);
    const lim = limits({ concurrencyPerKey: 1 });
    const first = await claimers[2].repository.claimLimited([], ['default'], 'lim.crash', lim, 5, 'crashed');
    expect(first.jobs).toHaveLength(1);
    expect((await claimers[3].repository.claimLimited([], ['default'], 'lim.crash', lim, 5, 'other')).jobs).toEqual([]);
    // The crashed instance's lease runs out; recovery sets the row back to pending.
    await query(db.url, `UPDATE job_queue.jobs SET locked_at = now() - interval '1 hour' WHERE id = $1`, [
      first.jobs[0].id,
    ]);
    const rescued = await claimers[3].repository.rescueExpired(60_000, 10, () => ({ retryInMs: 0 }), 'lease expired');
    expect(rescued.retried.map((j) => j.id)).toEqual([first.jobs[0].id]);
    const after = await claimers[3].repository.claimLimited([], ['default'], 'lim.crash', lim, 5, 'other');
    expect(after.jobs).toHaveLength(1);
    // The crashed attempt's completion, arriving late, is fenced out and frees nothing.
    const late = await claimers[2].repository.claimLimited(
      [{ id: first.jobs[0].id, token: first.jobs[0].lock_token }],
      ['default'],
      'lim.crash',
      lim,
      5,
      'crashed',
    );
    expect(late.completed.size).toBe(0);
    expect(late.jobs).toEqual([]);
    expect(await running('lim.crash')).toEqual([['T', 1]]);
  });

  it('rate limit: at most max starts per window, and the claim says when the window has room again', async () => {
    await insert('lim.rate', null, 30);
    const lim = limits({ rateLimit: { max: 5, periodMs: 2_000 } });
    const first = await claimers[0].repository.claimLimited([], ['default'], 'lim.rate', lim, 10, 'r');
    expect(first.jobs).toHaveLength(5);
    expect(first.held).toEqual(['rate']);
    expect(first.wakeInMs).toBeGreaterThan(1_000);
    expect(first.wakeInMs).toBeLessThanOrEqual(2_000);
    // Completing them frees no start: the window counts starts, not running jobs.
    const second = await claimers[1].repository.claimLimited(
      first.jobs.map((j) => ({ id: j.id, token: j.lock_token })),
      ['default'],
      'lim.rate',
      lim,
      10,
      'r',
    );
    expect(second.completed.size).toBe(5);
    expect(second.jobs).toEqual([]);
    expect(second.wakeInMs).toBeGreaterThan(0);
    expect(second.wakeInMs).toBeLessThanOrEqual(first.wakeInMs!);
  });

  it('per-key rate limit: each key has its own window', async () => {
    await insert('lim.keyrate', 'X', 10);
    await insert('lim.keyrate', 'Y', 10);
    const lim = limits({ rateLimit: { max: 2, periodMs: 60_000, perKey: true } });
    const claim = await claimers[0].repository.claimLimited([], ['default'], 'lim.keyrate', lim, 10, 'kr');
    expect(claim.jobs).toHaveLength(4);
    expect(await running('lim.keyrate')).toEqual([
      ['X', 2],
      ['Y', 2],
    ]);
    const again = await claimers[0].repository.claimLimited([], ['default'], 'lim.keyrate', lim, 10, 'kr');
    expect(again.jobs).toEqual([]);
    expect(again.held).toEqual(['key_rate']);
    expect(again.wakeInMs).toBeGreaterThan(50_000);
  });

  it('without a key, jobs of a per-key type are still claimed after the key walk', async () => {
    await insert('lim.mixed', 'K', 5);
    await insert('lim.mixed', null, 2);
    const lim = limits({ concurrencyPerKey: 1 });
    const claim = await claimers[0].repository.claimLimited([], ['default'], 'lim.mixed', lim, 10, 'm');
    expect(await running('lim.mixed')).toEqual([
      ['K', 1],
      [null, 2],
    ]);
    expect(claim.jobs).toHaveLength(3);
  });

  it('per-key: keys with nothing due in the served queues cost no visit; the first claim takes the due key', async () => {
    // 1,000 keys whose only job is due in an hour, 300 whose due job is in a queue this claim does not serve, all
    // before the one key with a due job here: 1,300 keys, where a claim visits at most 200.
    await query(
      db.url,
      `INSERT INTO job_queue.jobs (queue, type, payload, status, max_attempts, concurrency_key, next_retry_at)
       SELECT 'default', 'lim.sparse', '{}'::jsonb, 'pending', 3, 'k' || lpad(n::text, 4, '0'),
              now() + interval '1 hour'
       FROM generate_series(1, 1000) n
       UNION ALL
       SELECT 'other', 'lim.sparse', '{}'::jsonb, 'pending', 3, 'q' || lpad(n::text, 4, '0'), now()
       FROM generate_series(1, 300) n
       UNION ALL
       SELECT 'default', 'lim.sparse', '{}'::jsonb, 'pending', 3, 'z', now()`,
    );
    const lim = limits({ concurrencyPerKey: 1 });
    const claim = await claimers[0].repository.claimLimited([], ['default'], 'lim.sparse', lim, 5, 'sparse');
    expect(claim.jobs).toHaveLength(1);
    expect(await running('lim.sparse')).toEqual([['z', 1]]);
  });

  it('one call draws one lock token for every job it claims, and the next call a new one', async () => {
    // Keyed and keyless jobs: the key walk and the keyless head claim in separate statements of the call.
    await insert('lim.token', 'A', 2);
    await insert('lim.token', 'B', 2);
    await insert('lim.token', null, 2);
    const lim = limits({ concurrencyPerKey: 1 });
    const first = await claimers[0].repository.claimLimited([], ['default'], 'lim.token', lim, 4, 't');
    expect(first.jobs).toHaveLength(4);
    expect(new Set(first.jobs.map((j) => j.lock_token)).size).toBe(1);
    const rows = await query<{ lock_token: string }>(
      db.url,
      `SELECT DISTINCT lock_token FROM job_queue.jobs WHERE type = 'lim.token' AND status = 'processing'`,
    );
    expect(rows.map((r) => r.lock_token)).toEqual([first.jobs[0].lock_token]);

    const done = first.jobs.map((j) => ({ id: j.id, token: j.lock_token }));
    const second = await claimers[0].repository.claimLimited(done, ['default'], 'lim.token', lim, 4, 't');
    expect(second.completed.size).toBe(4);
    expect(second.jobs).toHaveLength(2);
    expect(new Set(second.jobs.map((j) => j.lock_token))).toEqual(new Set([second.jobs[0].lock_token]));
    expect(second.jobs[0].lock_token).not.toBe(first.jobs[0].lock_token);
  });
});
