import { Injectable, type INestApplicationContext } from '@nestjs/common';
import { JobHandler, JobProducer } from '@app/job-queue';
import { JobRepository } from '@app/job-queue/internal';
import { createTestDatabase, type TestDatabase } from './support/test-database';
import { startTestApp } from './support/test-app';
import { waitFor } from './support/wait-for';

let ran = 0;

@Injectable()
class Handlers {
  @JobHandler('start.order')
  async run() {
    ran += 1;
  }
}

/** The repository calls of the maintenance tasks that the worker starts. */
const MAINTENANCE = ['readTableHealth', 'countByStatusSampled', 'rescueExpired'] as const;

describe('a worker starting up', () => {
  let db: TestDatabase;
  let producer: INestApplicationContext;
  let worker: INestApplicationContext | undefined;
  /** Calls on any repository: the producer's app has one too, so each call records which it was made on. */
  const calls: Array<{ name: string; on: JobRepository }> = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    producer = await startTestApp({ connectionUrl: db.url, concurrency: 0 });
  });

  afterAll(async () => {
    jest.restoreAllMocks();
    await worker?.close();
    await producer?.close();
    await db?.drop();
  });

  it('sends its first claim before any maintenance statement', async () => {
    await producer
      .get(JobProducer)
      .enqueueMany(Array.from({ length: 5 }, () => ({ type: 'start.order', payload: {} })));
    for (const name of ['completeAndClaim', ...MAINTENANCE] as const) {
      const original = JobRepository.prototype[name] as (...args: unknown[]) => unknown;
      jest.spyOn(JobRepository.prototype, name).mockImplementation(function (this: JobRepository, ...args: unknown[]) {
        calls.push({ name, on: this });
        return original.apply(this, args);
      } as never);
    }

    worker = await startTestApp({ connectionUrl: db.url, depthSampleIntervalMs: 60_000 }, [Handlers]);
    await waitFor('the jobs ran', () => ran === 5);

    const mine = calls.filter((call) => call.on === worker!.get(JobRepository)).map((call) => call.name);
    // The first claim takes the connection start-up left idle, and meets no maintenance statement on the database.
    const firstClaim = mine.indexOf('completeAndClaim');
    expect(firstClaim).toBeGreaterThanOrEqual(0);
    // The depth sampler samples at start: its statements come, after the claim.
    expect(mine).toContain('readTableHealth');
    expect(mine.slice(0, firstClaim).filter((name) => MAINTENANCE.includes(name as never))).toEqual([]);
  });
});
