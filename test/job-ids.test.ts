import type { INestApplicationContext } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { JobProducer } from '@app/job-queue';
import { createTestDatabase, type TestDatabase } from './support/test-database';
import { startTestApp } from './support/test-app';
import { openDataSource } from './support/queue-probes';

/** Version 7 (RFC 9562): the 13th hex digit is 7, the 17th one of 8, 9, a, b (the variant). */
const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/**
 * Every insert path draws time-ordered ids, so a new row's primary-key entry lands on the key's right edge (see
 * `producer/time-ordered-id.ts`): the plain enqueue, the keyed one, one in the caller's transaction, and the bulk one.
 * The ids stay plain uuids, and an idempotency key still answers with its first job's id.
 */
describe('job ids: time-ordered on every insert path', () => {
  let db: TestDatabase;
  let dataSource: DataSource;
  let app: INestApplicationContext;
  let producer: JobProducer;

  beforeAll(async () => {
    db = await createTestDatabase();
    dataSource = await openDataSource(db.url, 4);
    app = await startTestApp({ dataSource, concurrency: 0 });
    await app.init();
    producer = app.get(JobProducer);
  });

  afterAll(async () => {
    await app?.close();
    await dataSource?.destroy();
    await db?.drop();
  });

  it('plain, keyed, in a transaction and in bulk: version 7 ids, increasing in the order they were drawn', async () => {
    const plain = await producer.enqueue('ids.job', { n: 1 });
    const keyed = await producer.enqueue('ids.job', { n: 2 }, { idempotencyKey: 'ids-key' });
    const inTransaction = await dataSource.transaction((manager) => producer.enqueue('ids.job', { n: 3 }, { manager }));
    const many = await producer.enqueueMany(Array.from({ length: 5 }, (_, n) => ({ type: 'ids.job', payload: { n } })));
    const ids = [plain.id, keyed.id, inTransaction.id, ...many.ids];
    for (const id of ids) expect(id).toMatch(UUID_V7);
    expect([...ids].sort()).toEqual(ids);

    const again = await producer.enqueue('ids.job', { n: 4 }, { idempotencyKey: 'ids-key' });
    expect(again.id).toBe(keyed.id);
  });
});
