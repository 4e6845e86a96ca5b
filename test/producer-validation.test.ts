import type { INestApplicationContext } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { JobProducer, JobValidationError, type JobToEnqueue } from '@app/job-queue';
import { JobRepository } from '@app/job-queue/internal';
import { createTestDatabase, type TestDatabase } from './support/test-database';
import { startTestApp } from './support/test-app';
import { query } from './support/sql';
import { countJobs, openDataSource } from './support/queue-probes';

const MAX_PAYLOAD_BYTES = 1_024;

describe('producer: validation before any write, transactions, idempotency, group commit', () => {
  let db: TestDatabase;
  let dataSource: DataSource;
  let app: INestApplicationContext;
  let producer: JobProducer;

  beforeAll(async () => {
    db = await createTestDatabase();
    // The app's own DataSource, shared with the queue, so that enqueue(…, { manager }) joins its transactions.
    dataSource = await openDataSource(db.url, 10);
    app = await startTestApp({ dataSource, concurrency: 0, maxPayloadBytes: MAX_PAYLOAD_BYTES });
    producer = app.get(JobProducer);
  });

  afterAll(async () => {
    await app?.close();
    await dataSource?.destroy();
    await db?.drop();
  });

  /** Runs `call`, expects a JobValidationError for `field` that names it in its message. */
  async function refused(call: () => Promise<unknown>, field: string): Promise<void> {
    const error = await call().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(JobValidationError);
    expect({ field: (error as JobValidationError).field, named: (error as Error).message.includes(field) }).toEqual({
      field,
      named: true,
    });
  }

  describe('refuses bad input with JobValidationError naming the field, and writes nothing', () => {
    const circular: Record<string, unknown> = { a: 1 };
    circular.self = circular;
    const cases: Array<[string, string, () => [string, unknown, Record<string, unknown>?]]> = [
      ['type with a space', 'type', () => ['bad type', {}]],
      ['empty type', 'type', () => ['', {}]],
      ['type over 255 characters', 'type', () => ['t'.repeat(256), {}]],
      ['type that is not a string', 'type', () => [42 as unknown as string, {}]],
      ['BigInt payload', 'payload', () => ['p.ok', { n: BigInt(1) }]],
      ['circular payload', 'payload', () => ['p.ok', circular]],
      ['undefined payload', 'payload', () => ['p.ok', undefined]],
      ['function payload', 'payload', () => ['p.ok', () => 1]],
      ['payload over maxPayloadBytes', 'payload', () => ['p.ok', { s: 'x'.repeat(MAX_PAYLOAD_BYTES) }]],
      ['payload over the limit in UTF-8 bytes, not in characters', 'payload', () => ['p.ok', { s: 'é'.repeat(600) }]],
      ['fractional priority', 'priority', () => ['p.ok', {}, { priority: 1.5 }]],
      ['priority over int32', 'priority', () => ['p.ok', {}, { priority: 2 ** 31 }]],
      ['priority as a string', 'priority', () => ['p.ok', {}, { priority: '5' }]],
      ['negative delayMs', 'delayMs', () => ['p.ok', {}, { delayMs: -1 }]],
      ['fractional delayMs', 'delayMs', () => ['p.ok', {}, { delayMs: 0.5 }]],
      ['runAt with delayMs', 'runAt', () => ['p.ok', {}, { runAt: new Date(), delayMs: 10 }]],
      ['invalid runAt', 'runAt', () => ['p.ok', {}, { runAt: new Date('nope') }]],
      ['maxAttempts 0', 'maxAttempts', () => ['p.ok', {}, { maxAttempts: 0 }]],
      ['fractional maxAttempts', 'maxAttempts', () => ['p.ok', {}, { maxAttempts: 2.5 }]],
      ['queue with a space', 'queue', () => ['p.ok', {}, { queue: 'bad queue' }]],
      ['empty queue', 'queue', () => ['p.ok', {}, { queue: '' }]],
      ['empty idempotencyKey', 'idempotencyKey', () => ['p.ok', {}, { idempotencyKey: '' }]],
      ['idempotencyKey over 255', 'idempotencyKey', () => ['p.ok', {}, { idempotencyKey: 'k'.repeat(256) }]],
      ['idempotencyKey as a number', 'idempotencyKey', () => ['p.ok', {}, { idempotencyKey: 7 }]],
      ['payload with a lone high surrogate', 'payload', () => ['p.ok', { s: 'a\ud800b' }]],
      ['payload with a lone low surrogate in a key', 'payload', () => ['p.ok', { ['\udc00']: 1 }]],
      ['idempotencyKey with NUL', 'idempotencyKey', () => ['p.ok', {}, { idempotencyKey: 'a\u0000b' }]],
      ['idempotencyKey with a lone surrogate', 'idempotencyKey', () => ['p.ok', {}, { idempotencyKey: 'k\udfff' }]],
      [
        'runAt before PostgreSQL’s earliest timestamp',
        'runAt',
        () => ['p.ok', {}, { runAt: new Date(Date.UTC(-4713, 10, 23, 23)) }],
      ],
      ['unknown option key', 'priorty', () => ['p.ok', {}, { priorty: 1 }]],
      ['manager that is no EntityManager (a JSON object)', 'manager', () => ['p.ok', {}, { manager: { id: 1 } }]],
    ];

    it.each(cases)('%s → %s', async (_, field, args) => {
      const [type, payload, options] = args();
      await refused(() => producer.enqueue(type, payload, options), field);
      expect(await countJobs(db.url)).toBe(0);
    });

    it('an invalid job in enqueueMany refuses the whole batch, naming its index', async () => {
      const jobs: JobToEnqueue[] = [
        { type: 'p.ok', payload: { n: 0 } },
        { type: 'p.ok', payload: { n: 1 } },
        { type: 'p.ok', payload: { n: 2 }, priority: 0.5 },
        { type: 'p.ok', payload: { n: 3 } },
      ];
      await refused(() => producer.enqueueMany(jobs), 'jobs[2].priority');
      await refused(
        () => producer.enqueueMany([jobs[0], { type: 'p.ok', payload: { big: BigInt(2) } }]),
        'jobs[1].payload',
      );
      expect(await countJobs(db.url)).toBe(0);
    });

    it('a payload just at the limit is accepted (the limit is the limit, not less)', async () => {
      const filler = 'x'.repeat(MAX_PAYLOAD_BYTES - JSON.stringify({ s: '' }).length);
      const { id } = await producer.enqueue('p.limit', { s: filler });
      expect(await countJobs(db.url, 'id = $1', [id])).toBe(1);
      await query(db.url, 'DELETE FROM job_queue.jobs');
    });
  });

  it('accepts what PostgreSQL can store at the edges: paired surrogates, its earliest timestamp', async () => {
    const earliest = new Date(Date.UTC(-4713, 10, 24));
    const smile = 'smile \ud83d\ude00';
    const { id } = await producer.enqueue('p.edge', { s: smile }, { runAt: earliest, idempotencyKey: smile });
    const rows = await query(
      db.url,
      'SELECT payload, idempotency_key, next_retry_at FROM job_queue.jobs WHERE id = $1',
      [id],
    );
    expect(rows).toEqual([{ payload: { s: smile }, idempotency_key: smile, next_retry_at: earliest }]);
    await query(db.url, 'DELETE FROM job_queue.jobs');
  });

  describe('transactions through `manager`', () => {
    it('a rolled-back transaction leaves no job, though the job was inserted inside it', async () => {
      let insideCount = -1;
      await expect(
        dataSource.transaction(async (manager) => {
          await producer.enqueue('p.tx', { outcome: 'rollback' }, { manager });
          await producer.enqueueMany([{ type: 'p.tx', payload: { outcome: 'rollback-many' } }], { manager });
          [{ n: insideCount }] = await manager.query(
            `SELECT count(*)::int AS n FROM job_queue.jobs WHERE type = 'p.tx'`,
          );
          throw new Error('business rule failed');
        }),
      ).rejects.toThrow('business rule failed');
      expect(insideCount).toBe(2);
      expect(await countJobs(db.url, `type = 'p.tx'`)).toBe(0);
    });

    it('a committed transaction leaves the job, invisible to others until the commit', async () => {
      let seenOutside = -1;
      const id = await dataSource.transaction(async (manager) => {
        const result = await producer.enqueue('p.tx', { outcome: 'commit' }, { manager });
        seenOutside = await countJobs(db.url, 'id = $1', [result.id]);
        return result.id;
      });
      expect(seenOutside).toBe(0);
      expect(await query(db.url, 'SELECT payload FROM job_queue.jobs WHERE id = $1', [id])).toEqual([
        { payload: { outcome: 'commit' } },
      ]);
      await query(db.url, 'DELETE FROM job_queue.jobs');
    });

    it('counts a delay from the enqueue, not from the start of the transaction', async () => {
      const delayMs = 1_000;
      const { ids, enqueuedAt } = await dataSource.transaction(async (manager) => {
        // Work before the enqueue: the transaction's now() stays at its start while the database's clock moves on.
        await manager.query('SELECT pg_sleep(1.5)');
        const [{ at }] = await manager.query<Array<{ at: Date }>>('SELECT statement_timestamp() AS at');
        const one = await producer.enqueue('p.tx', { outcome: 'delayed' }, { manager, delayMs });
        const many = await producer.enqueueMany([{ type: 'p.tx', payload: { outcome: 'delayed-many' }, delayMs }], {
          manager,
        });
        return { ids: [one.id, ...many.ids], enqueuedAt: at };
      });
      const rows = await query<{ after_enqueue_ms: number }>(
        db.url,
        `SELECT (extract(epoch FROM next_retry_at - $2::timestamptz) * 1000)::float8 AS after_enqueue_ms
         FROM job_queue.jobs WHERE id = ANY($1::uuid[])`,
        [ids, enqueuedAt],
      );
      expect(rows).toHaveLength(2);
      for (const row of rows) expect(row.after_enqueue_ms).toBeGreaterThanOrEqual(delayMs);
      await query(db.url, 'DELETE FROM job_queue.jobs');
    });
  });

  describe('idempotency keys', () => {
    it('returns the live job’s id for a repeated key, and a new id once that job is gone', async () => {
      const first = await producer.enqueue('p.idem', { n: 1 }, { idempotencyKey: 'order-1' });
      const again = await producer.enqueue('p.idem', { n: 2 }, { idempotencyKey: 'order-1' });
      expect(again.id).toBe(first.id);
      expect(await query(db.url, `SELECT payload FROM job_queue.jobs WHERE idempotency_key = 'order-1'`)).toEqual([
        { payload: { n: 1 } },
      ]);

      await query(db.url, 'DELETE FROM job_queue.jobs WHERE id = $1', [first.id]);
      const later = await producer.enqueue('p.idem', { n: 3 }, { idempotencyKey: 'order-1' });
      expect(later.id).not.toBe(first.id);
    });

    it('in enqueueMany: against a live job, and twice within one batch', async () => {
      const live = await producer.enqueue('p.idem', {}, { idempotencyKey: 'live-key' });
      const { ids } = await producer.enqueueMany([
        { type: 'p.idem', payload: { n: 0 }, idempotencyKey: 'batch-key' },
        { type: 'p.idem', payload: { n: 1 }, idempotencyKey: 'live-key' },
        { type: 'p.idem', payload: { n: 2 }, idempotencyKey: 'batch-key' },
        { type: 'p.idem', payload: { n: 3 } },
        { type: 'p.idem', payload: { n: 4 } },
      ]);
      expect(ids[1]).toBe(live.id);
      expect(ids[2]).toBe(ids[0]);
      expect(new Set([ids[0], ids[1], ids[3], ids[4]]).size).toBe(4);
      expect(await query(db.url, `SELECT payload FROM job_queue.jobs WHERE idempotency_key = 'batch-key'`)).toEqual([
        { payload: { n: 0 } },
      ]);
      expect(await countJobs(db.url, `type = 'p.idem'`)).toBe(1 + 1 + 1 + 2);
      await query(db.url, 'DELETE FROM job_queue.jobs');
    });
  });

  it('concurrent enqueue() calls share insert statements, and each gets the id of its own job', async () => {
    const insertMany = jest.spyOn(app.get(JobRepository), 'insertMany');
    try {
      const results = await Promise.all(Array.from({ length: 50 }, (_, n) => producer.enqueue('p.group', { n })));
      const ids = results.map((r) => r.id);
      expect(new Set(ids).size).toBe(50);
      expect(insertMany.mock.calls.length).toBeGreaterThanOrEqual(1);
      expect(insertMany.mock.calls.length).toBeLessThan(50);
      const rows = await query<{ id: string; n: number }>(
        db.url,
        `SELECT id, (payload->>'n')::int AS n FROM job_queue.jobs WHERE type = 'p.group'`,
      );
      expect(rows).toHaveLength(50);
      const byId = new Map(rows.map((r) => [r.id, r.n]));
      expect(ids.map((id) => byId.get(id))).toEqual(Array.from({ length: 50 }, (_, n) => n));
    } finally {
      insertMany.mockRestore();
    }
  });
});
