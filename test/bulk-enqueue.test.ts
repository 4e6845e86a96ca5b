import type { INestApplicationContext } from '@nestjs/common';
import { Client } from 'pg';
import type { DataSource } from 'typeorm';
import { JobProducer, JobValidationError, type JobToEnqueue } from '@app/job-queue';
import type { JobRepository } from '@app/job-queue/internal';
import { createTestDatabase, type TestDatabase } from './support/test-database';
import { startTestApp } from './support/test-app';
import { query } from './support/sql';
import { waitFor } from './support/wait-for';
import { countJobs, openDataSource, openRepository } from './support/queue-probes';

const TYPE = 'bulk.job';

/** `n` no-op jobs, `make(i)` adding options to the i-th. */
function jobs(n: number, make: (i: number) => Partial<JobToEnqueue> = () => ({})): JobToEnqueue[] {
  return Array.from({ length: n }, (_, i) => ({ type: TYPE, payload: { i }, ...make(i) }));
}

/**
 * `enqueueMany` from 1,000 jobs on: one transaction (COPY for the jobs due now without a key, the keyed insert for
 * the rest). Proven on the rows: everything is written and claimable, keys hold within the batch and against live
 * jobs, a failure anywhere writes nothing, and workers are woken once per queue.
 */
describe('bulk enqueue', () => {
  let db: TestDatabase;
  let dataSource: DataSource;
  let app: INestApplicationContext;
  let producer: JobProducer;
  let claimer: { repository: JobRepository; dataSource: DataSource };

  beforeAll(async () => {
    db = await createTestDatabase();
    dataSource = await openDataSource(db.url);
    app = await startTestApp({ dataSource, concurrency: 0 });
    producer = app.get(JobProducer);
    claimer = await openRepository(db.url);
  });

  afterEach(async () => {
    await query(db.url, 'DELETE FROM job_queue.jobs');
  });

  afterAll(async () => {
    await app?.close();
    await claimer?.dataSource.destroy();
    await dataSource?.destroy();
    await db?.drop();
  });

  it('writes 100,000 jobs, each under the id it returned, and every one of them is claimable', async () => {
    // Payloads with what COPY's text format would read differently (backslashes, tabs and newlines inside JSON).
    const tricky = { text: 'a\\b\tc\nd "quoted" \u00e9\u{1F600}', path: 'C:\\temp\\' };
    const batch = jobs(100_000, (i) => ({
      queue: i % 2 ? 'bulk-a' : 'bulk-b',
      payload: i % 1000 === 0 ? { i, tricky } : { i },
      priority: i % 3,
    }));
    const { ids } = await producer.enqueueMany(batch);

    expect(ids).toHaveLength(100_000);
    expect(new Set(ids).size).toBe(100_000);
    expect(await countJobs(db.url)).toBe(100_000);
    const sample = await query<{ id: string; queue: string; payload: unknown; priority: number; status: string }>(
      db.url,
      `SELECT id, queue, payload, priority, status FROM job_queue.jobs WHERE id = ANY($1::uuid[])`,
      [[ids[0], ids[1], ids[1000], ids[99_999]]],
    );
    const byId = new Map(sample.map((r) => [r.id, r]));
    expect(byId.get(ids[0])).toMatchObject({ queue: 'bulk-b', payload: { i: 0, tricky }, priority: 0 });
    expect(byId.get(ids[1])).toMatchObject({ queue: 'bulk-a', payload: { i: 1 }, priority: 1, status: 'pending' });
    expect(byId.get(ids[1000])).toMatchObject({ payload: { i: 1000, tricky } });
    expect(byId.get(ids[99_999])).toMatchObject({ queue: 'bulk-a', payload: { i: 99_999 }, priority: 0 });

    // One queue per claim: two queues whose jobs interleave in claim order make the claim's walk take one row per
    // step (see claim-available.sql.ts), which is slow at claims of thousands.
    let claimed = 0;
    for (const queue of ['bulk-a', 'bulk-b']) {
      for (;;) {
        const got = await claimer.repository.claimAvailable([queue], [TYPE], 5_000, 'bulk-test');
        if (got.length === 0) break;
        claimed += got.length;
      }
    }
    expect(claimed).toBe(100_000);
    expect(await countJobs(db.url, `status = 'pending'`)).toBe(0);
  });

  it('keeps idempotency keys: duplicates within the batch and keys of live jobs return one id each', async () => {
    const { id: live } = await producer.enqueue(TYPE, { live: true }, { idempotencyKey: 'key-live' });
    // 3,000 jobs: 1,000 keyed (every key twice in the batch, in a shuffled order), one with the live job's key,
    // and plain ones around them that go through COPY.
    const batch = jobs(3_000, (i) => {
      if (i === 2_500) return { idempotencyKey: 'key-live' };
      if (i % 3 === 0) return { idempotencyKey: `key-${(i * 7) % 500}` };
      return {};
    });
    const { ids } = await producer.enqueueMany(batch);

    expect(ids[2_500]).toBe(live);
    const firstOfKey = new Map<string, string>();
    batch.forEach((job, i) => {
      if (!job.idempotencyKey || job.idempotencyKey === 'key-live') return;
      const seen = firstOfKey.get(job.idempotencyKey);
      if (seen) expect(ids[i]).toBe(seen);
      else firstOfKey.set(job.idempotencyKey, ids[i]);
    });
    expect(firstOfKey.size).toBe(500);
    // 1,999 unkeyed + 500 distinct keys + the live job, which was not written again.
    expect(await countJobs(db.url)).toBe(1_999 + 500 + 1);
    expect(await countJobs(db.url, `idempotency_key = 'key-live' AND payload = '{"live": true}'`)).toBe(1);
    const keyed = await query<{ id: string; idempotency_key: string }>(
      db.url,
      `SELECT id, idempotency_key FROM job_queue.jobs WHERE idempotency_key LIKE 'key-%' AND idempotency_key <> 'key-live'`,
    );
    for (const row of keyed) expect(firstOfKey.get(row.idempotency_key)).toBe(row.id);

    // The same batch again: every key is live now, so only the unkeyed jobs are new.
    const again = await producer.enqueueMany(batch);
    expect(again.ids[0]).toBe(ids[0]);
    expect(await countJobs(db.url)).toBe(2 * 1_999 + 500 + 1);
  });

  it('refuses the whole call when one item is invalid, naming it, before anything is written', async () => {
    const batch = jobs(5_000, (i) => (i === 4_321 ? { priority: 1.5 } : {}));
    const error = await producer.enqueueMany(batch).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(JobValidationError);
    expect((error as JobValidationError).field).toBe('jobs[4321].priority');
    expect((error as Error).message).toContain('jobs[4321].priority');
    expect(await countJobs(db.url)).toBe(0);
  });

  it('writes nothing when the database refuses one job after the others were copied', async () => {
    // A trigger refuses one keyed job; the keyed jobs are written after the COPY of the others, in one transaction.
    await query(
      db.url,
      `CREATE FUNCTION job_queue.refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN IF NEW.payload ? 'poison' THEN RAISE EXCEPTION 'poisoned job'; END IF; RETURN NEW; END $$;
       CREATE TRIGGER refuse_poison BEFORE INSERT ON job_queue.jobs FOR EACH ROW EXECUTE FUNCTION job_queue.refuse_poison()`,
    );
    try {
      const batch = jobs(20_000, (i) => (i === 19_000 ? { payload: { poison: true }, idempotencyKey: 'poison' } : {}));
      await expect(producer.enqueueMany(batch)).rejects.toThrow('poisoned job');
      expect(await countJobs(db.url)).toBe(0);
    } finally {
      await query(db.url, `DROP TRIGGER refuse_poison ON job_queue.jobs; DROP FUNCTION job_queue.refuse_poison()`);
    }
  });

  it("joins the caller's transaction: nothing is written when it rolls back, everything when it commits", async () => {
    await expect(
      dataSource.transaction(async (manager) => {
        await producer.enqueueMany(
          jobs(2_000, (i) => (i === 7 ? { idempotencyKey: 'tx-key' } : {})),
          { manager },
        );
        expect(await manager.query(`SELECT count(*)::int AS n FROM job_queue.jobs`)).toEqual([{ n: 2_000 }]);
        throw new Error('caller rolls back');
      }),
    ).rejects.toThrow('caller rolls back');
    expect(await countJobs(db.url)).toBe(0);

    // A manager whose connection has no transaction open: the call is still all or nothing, in a transaction of its
    // own (each chunk would commit alone on that connection otherwise).
    const runner = dataSource.createQueryRunner();
    await runner.connect();
    await query(db.url, `ALTER TABLE job_queue.jobs ADD CONSTRAINT bulk_refuse_last CHECK (payload->>'i' <> '1999')`);
    try {
      // The refused job is keyed: it is written after the COPY of the 1,999 others, by a statement of its own.
      const lastKeyed = jobs(2_000, (i) => (i === 1_999 ? { idempotencyKey: 'refused' } : {}));
      await expect(producer.enqueueMany(lastKeyed, { manager: runner.manager })).rejects.toThrow('bulk_refuse_last');
    } finally {
      await runner.release();
      await query(db.url, `ALTER TABLE job_queue.jobs DROP CONSTRAINT bulk_refuse_last`);
    }
    expect(await countJobs(db.url)).toBe(0);

    const ids = await dataSource.transaction(
      async (manager) => (await producer.enqueueMany(jobs(2_000), { manager })).ids,
    );
    expect(await countJobs(db.url, 'id = ANY($1::uuid[])', [ids])).toBe(2_000);
  });

  it('wakes workers once per queue of the call, at its commit', async () => {
    const listener = new Client({ connectionString: db.url });
    await listener.connect();
    const received: string[] = [];
    listener.on('notification', (n) => received.push(n.payload ?? ''));
    const channel: string = producer['repository'].tables.channel;
    try {
      await listener.query(`LISTEN "${channel}"`);
      // Three queues; keyed, delayed and plain jobs in each, so that the COPY and the keyed statements both notify.
      await producer.enqueueMany(
        jobs(6_000, (i) => ({
          queue: `wake-${i % 3}`,
          ...(i % 10 === 0 ? { idempotencyKey: `wake-key-${i}` } : {}),
          ...(i % 10 === 1 ? { delayMs: 60_000 } : {}),
        })),
      );
      // Notifications arrive in commit order: once this marker is in, every notification of the call is too.
      await query(db.url, `SELECT pg_notify($1, 'marker')`, [channel]);
      await waitFor('the marker notification', () => received.includes('marker'));
      const wakes = received.filter((p) => p !== 'marker').sort();
      expect(wakes).toEqual(['wake-0', 'wake-1', 'wake-2']);
    } finally {
      await listener.end();
    }
  });

  it("writes each job's concurrency key, whatever characters it holds", async () => {
    const keys = ['tenant-a', 'tab\there', 'back\\slash', 'line\nbreak', '\\N'];
    const batch = jobs(2_000, (i) => (i % 6 === 5 ? {} : { concurrencyKey: keys[i % 6] }));
    const { ids } = await producer.enqueueMany(batch);
    const rows = await query<{ id: string; concurrency_key: string | null }>(
      db.url,
      'SELECT id, concurrency_key FROM job_queue.jobs WHERE id = ANY ($1::uuid[])',
      [ids],
    );
    const byId = new Map(rows.map((r) => [r.id, r.concurrency_key]));
    expect(byId.size).toBe(2_000);
    ids.forEach((id, i) => expect(byId.get(id)).toBe(i % 6 === 5 ? null : keys[i % 6]));
  });

  it('refuses more than 1,000,000 jobs in one call', async () => {
    const tooMany = new Array(1_000_001).fill({ type: TYPE, payload: {} }) as JobToEnqueue[];
    await expect(producer.enqueueMany(tooMany)).rejects.toThrow(JobValidationError);
  });
});
