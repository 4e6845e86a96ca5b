import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Client } from 'pg';
import { JobHandler, JobQueueModule } from '@app/job-queue';
import { CapturingLogger } from './support/capturing-logger';
import { createTestDatabase, type TestDatabase } from './support/test-database';
import { query } from './support/sql';
import { waitFor } from './support/wait-for';

@Injectable()
class TransactionalHandlers {
  @JobHandler('maint.tx', { transactional: true })
  async run() {}
}

describe('shutdown and maintenance runs', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase();
  });

  afterAll(async () => {
    await db?.drop();
  });

  it('closes no connection under a maintenance run: shutdown waits for the run under way', async () => {
    @Module({
      imports: [JobQueueModule.forRoot({ connectionUrl: db.url, concurrency: 2 })],
      providers: [TransactionalHandlers],
    })
    class AppModule {}
    const logger = new CapturingLogger();
    // Hold the depth sampler's first run (it starts at bootstrap) behind a lock on dead_jobs.
    const blocker = new Client({ connectionString: db.url });
    await blocker.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query('LOCK TABLE job_queue.dead_jobs IN ACCESS EXCLUSIVE MODE');
      const app = await NestFactory.createApplicationContext(AppModule, { logger });
      await waitFor('the sampler waiting on the lock', async () => {
        const [row] = await query<{ n: number }>(
          db.url,
          `SELECT count(*)::int AS n FROM pg_locks
           WHERE database = (SELECT oid FROM pg_database WHERE datname = current_database())
             AND relation = 'job_queue.dead_jobs'::regclass AND NOT granted`,
        );
        return row.n > 0;
      });
      const closed = app.close();
      await new Promise((resolve) => setTimeout(resolve, 100)); // let close reach the pool if it were not waiting
      await blocker.query('COMMIT');
      await closed;
    } finally {
      await blocker.end();
    }
    expect(logger.warnings.filter((w) => w.includes('failed'))).toEqual([]);
  });
});
