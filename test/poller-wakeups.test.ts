import { Injectable, type INestApplicationContext } from '@nestjs/common';
import { JobHandler } from '@app/job-queue';
import { JobPoller } from '@app/job-queue/worker/job.poller';
import { createTestDatabase, type TestDatabase } from './support/test-database';
import { startTestApp } from './support/test-app';
import { countJobs, gate } from './support/queue-probes';
import { query } from './support/sql';
import { waitFor } from './support/wait-for';

const firstBatch = gate();
let running = 0;

@Injectable()
class Handlers {
  @JobHandler('wake.work')
  async work() {
    running += 1;
    await firstBatch.promise;
    running -= 1;
  }
}

describe('claim loop wake-ups', () => {
  let db: TestDatabase;
  let app: INestApplicationContext;

  beforeAll(async () => {
    db = await createTestDatabase();
  });

  afterAll(async () => {
    firstBatch.open();
    await app?.close();
    await db?.drop();
  });

  it('keeps claiming as slots free after a wake-up that found every slot busy, without waiting for the poll', async () => {
    // No NOTIFY and a poll interval far beyond the test: only freed slots can drive the claims.
    await query(db.url, `INSERT INTO job_queue.jobs (type, payload, status, max_attempts)
                         SELECT 'wake.work', '{}', 'pending', 5 FROM generate_series(1, 8)`);
    app = await startTestApp({ connectionUrl: db.url, concurrency: 2, pollOnly: true, pollIntervalMs: 600_000 }, [Handlers]);
    await waitFor('both slots busy', () => running === 2);
    // A poll tick (or a NOTIFY) arriving while every slot is busy claims nothing; it must not make the loop
    // forget that the last claim came back full.
    app.get(JobPoller).tick();
    await new Promise((resolve) => setImmediate(resolve));
    firstBatch.open();
    await waitFor('all 8 jobs done through freed slots alone', async () => (await countJobs(db.url)) === 0, 5_000);
  });
});
