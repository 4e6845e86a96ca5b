import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { DataSource } from 'typeorm';
import { JobHandler, JobQueueModule } from '@app/job-queue';
import { CapturingLogger } from './support/capturing-logger';
import { createTestDatabase, type TestDatabase } from './support/test-database';

@Injectable()
class TransactionalHandlers {
  @JobHandler('pool.tx', { transactional: true })
  async run() {}
}

describe('pool size check at start', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase();
  });

  afterAll(async () => {
    await db?.drop();
  });

  async function warningsWith(poolSize: number, concurrency: number, dataSource?: DataSource): Promise<string[]> {
    const connection = dataSource ? { dataSource } : { connectionUrl: db.url, poolSize };
    @Module({ imports: [JobQueueModule.forRoot({ ...connection, concurrency })], providers: [TransactionalHandlers] })
    class AppModule {}
    const logger = new CapturingLogger();
    const app = await NestFactory.createApplicationContext(AppModule, { logger });
    await app.close();
    return logger.warnings.filter((w) => w.includes('The database pool holds'));
  }

  it('says so when the pool is smaller than the concurrency of transactional handlers needs', async () => {
    // 10 transactional jobs at once hold 10 connections, plus the claim, writers, heartbeat and the rest.
    expect(await warningsWith(8, 10)).toEqual([
      expect.stringMatching(/pool holds 8 connections but the job queue may need 20 at once/),
    ]);
  });

  it("says how to raise the pool: the poolSize option for the queue's own pool, extra.max for the app's DataSource", async () => {
    expect(await warningsWith(8, 10)).toEqual([
      expect.stringMatching(/set the JobQueueModule option poolSize: 20 or more$/),
    ]);
    const dataSource = new DataSource({ type: 'postgres', url: db.url, extra: { max: 8 } });
    await dataSource.initialize();
    try {
      expect(await warningsWith(0, 10, dataSource)).toEqual([
        expect.stringMatching(
          /pool holds 8 connections .* set extra: \{ max: 20 \} \(or more\) in its TypeORM options$/,
        ),
      ]);
    } finally {
      await dataSource.destroy();
    }
  });

  it('stays quiet when the pool is large enough', async () => {
    expect(await warningsWith(20, 10)).toEqual([]);
  });
});
