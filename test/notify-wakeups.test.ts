import { Injectable, type INestApplicationContext } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { JobHandler, JobProducer } from '@app/job-queue';
import { JobRepository } from '@app/job-queue/internal';
import { createTestDatabase, type TestDatabase } from './support/test-database';
import { startTestApp } from './support/test-app';
import { jobRow, openDataSource } from './support/queue-probes';
import { waitFor } from './support/wait-for';

@Injectable()
class Handlers {
  @JobHandler('notify.job')
  async work() {}
}

/**
 * The worker polls only every ten minutes here, so a job that runs within seconds was woken by NOTIFY: after an
 * autocommit enqueue (the producer notifies after the insert commits), after a caller's transaction commits (the
 * insert notifies on commit), and after an enqueueMany. A lone autocommit enqueue carries its NOTIFY in the insert
 * itself (delivered at its commit); enqueues that follow within the notifier's gap are woken by one NOTIFY after.
 */
describe('NOTIFY wakes idle workers', () => {
  let db: TestDatabase;
  let worker: INestApplicationContext;
  let producerApp: INestApplicationContext;
  let dataSource: DataSource;

  beforeAll(async () => {
    db = await createTestDatabase();
    dataSource = await openDataSource(db.url);
    worker = await startTestApp({ connectionUrl: db.url, pollIntervalMs: 600_000 }, [Handlers]);
    // A producer in an app of its own, as another service would enqueue; it shares the test's DataSource.
    producerApp = await startTestApp({ dataSource, concurrency: 0 });
  });

  afterAll(async () => {
    await producerApp?.close();
    await worker?.close();
    await dataSource?.destroy();
    await db?.drop();
  });

  const done = (id: string) => waitFor(`job ${id} run`, async () => !(await jobRow(db.url, id)), 5_000);

  it('after an autocommit enqueue', async () => {
    const { id } = await producerApp.get(JobProducer).enqueue('notify.job', {});
    await done(id);
  });

  it('after the caller’s transaction commits', async () => {
    const id = await dataSource.transaction(async (manager) => {
      const { id: inserted } = await producerApp.get(JobProducer).enqueue('notify.job', {}, { manager });
      return inserted;
    });
    await done(id);
  });

  it('after an enqueueMany', async () => {
    const { ids } = await producerApp.get(JobProducer).enqueueMany([
      { type: 'notify.job', payload: {} },
      { type: 'notify.job', payload: {}, idempotencyKey: 'notify-key' },
    ]);
    for (const id of ids) await done(id);
  });

  it('a lone enqueue carries its NOTIFY: no NOTIFY statement after it, and the idle worker runs it', async () => {
    const notifyStatements = jest.spyOn(producerApp.get(JobRepository), 'notifyQueues');
    try {
      const { id } = await producerApp.get(JobProducer).enqueue('notify.job', {});
      await done(id);
      expect(notifyStatements).not.toHaveBeenCalled();
      // Enqueues at once after it: the first carries the NOTIFY, the others within its gap are woken after; none waits
      // for the poll.
      const results = await Promise.all(
        Array.from({ length: 20 }, () => producerApp.get(JobProducer).enqueue('notify.job', {})),
      );
      for (const { id: each } of results) await done(each);
    } finally {
      notifyStatements.mockRestore();
    }
  });
});
