import { Injectable, type INestApplicationContext } from '@nestjs/common';
import { JobHandler } from '@app/job-queue';
import { JobNotifyListener, JobPoller } from '@app/job-queue/internal';
import { createTestDatabase, type TestDatabase } from './support/test-database';
import { startTestApp } from './support/test-app';
import { countJobs, gate } from './support/queue-probes';
import { query } from './support/sql';
import { waitFor } from './support/wait-for';

const firstBatch = gate();
let running = 0;
let ownRuns = 0;
const limitedBatch = gate();
let limitedRunning = 0;
let limitedRuns = 0;

@Injectable()
class AfterOutage {
  @JobHandler('wake.after-outage')
  async work() {}
}

@Injectable()
class Handlers {
  @JobHandler('wake.work')
  async work() {
    running += 1;
    await firstBatch.promise;
    running -= 1;
  }
}

@Injectable()
class OwnConcurrency {
  @JobHandler('wake.own', { concurrency: 2 })
  async work() {
    // A job that takes a while: its slots are still busy when the loop claims again after a full batch.
    await new Promise((resolve) => setTimeout(resolve, 50));
    ownRuns += 1;
  }

  @JobHandler('wake.open')
  async open() {}
}

@Injectable()
class Limited {
  @JobHandler('wake.limited', { concurrency: 2, globalConcurrency: 2 })
  async work() {
    limitedRunning += 1;
    await limitedBatch.promise;
    limitedRunning -= 1;
    limitedRuns += 1;
  }

  @JobHandler('wake.limited-open')
  async open() {}
}

describe('claim loop wake-ups', () => {
  let db: TestDatabase;
  let app: INestApplicationContext;
  let second: INestApplicationContext | undefined;

  beforeAll(async () => {
    db = await createTestDatabase();
  });

  afterAll(async () => {
    firstBatch.open();
    await app?.close();
    await second?.close();
    await db?.drop();
  });

  it('keeps claiming as slots free after a wake-up that found every slot busy, without waiting for the poll', async () => {
    // No NOTIFY and a poll interval far beyond the test: only freed slots can drive the claims.
    await query(
      db.url,
      `INSERT INTO job_queue.jobs (type, payload, status, max_attempts)
                         SELECT 'wake.work', '{}', 'pending', 5 FROM generate_series(1, 8)`,
    );
    app = await startTestApp({ connectionUrl: db.url, concurrency: 2, pollOnly: true, pollIntervalMs: 600_000 }, [
      Handlers,
    ]);
    await waitFor('both slots busy', () => running === 2);
    // A poll tick (or a NOTIFY) arriving while every slot is busy claims nothing; it must not make the loop
    // forget that the last claim came back full.
    app.get(JobPoller).tick();
    await new Promise((resolve) => setImmediate(resolve));
    firstBatch.open();
    await waitFor('all 8 jobs done through freed slots alone', async () => (await countJobs(db.url)) === 0, 5_000);
  });

  it('claims as soon as the database answers again, instead of sleeping out its error backoff', async () => {
    second = await startTestApp({ connectionUrl: db.url, concurrency: 2, pollIntervalMs: 600_000 }, [AfterOutage]);
    const poller = second.get<
      JobPoller,
      { consecutiveErrors: number; backoffTimer?: NodeJS.Timeout; running: boolean }
    >(JobPoller);
    // Quiet first: the listener's first connect wakes the loop, and a claim that succeeds after the line below would
    // reset its error count.
    await waitFor(
      'the listener connected and the loop idle',
      () => second!.get(JobNotifyListener).connected && !poller.running,
    );
    // An outage of the claim: the table is away, and the loop has already failed often, so its next wait is long.
    poller.consecutiveErrors = 20;
    await query(db.url, 'ALTER TABLE job_queue.jobs RENAME TO jobs_away');
    second.get(JobPoller).tick();
    await waitFor('the loop backing off', () => poller.backoffTimer !== undefined && poller.consecutiveErrors > 20);
    await query(db.url, 'ALTER TABLE job_queue.jobs_away RENAME TO jobs');
    await query(
      db.url,
      `INSERT INTO job_queue.jobs (type, payload, status, max_attempts) VALUES ('wake.after-outage', '{}', 'pending', 5)`,
    );
    // The database is back; the listener's reconnect is what tells the worker so.
    await query(
      db.url,
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
       WHERE datname = current_database() AND application_name LIKE 'job-queue-listener:%'`,
    );
    // Well inside the 30 s backoff the loop would otherwise sleep.
    await waitFor('the job claimed and done', async () => (await countJobs(db.url)) === 0, 10_000);
  });
});

describe('claim loop wake-ups with several claim groups', () => {
  let db: TestDatabase;
  const apps: INestApplicationContext[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
  });

  afterAll(async () => {
    limitedBatch.open();
    for (const app of apps) await app.close();
    await db?.drop();
  });

  it('drains a backlog of a type with its own concurrency through freed slots, beside a group with nothing to claim', async () => {
    // Two claim groups: the type with its own concurrency, and the shared group of the other type, which has no
    // jobs. Its empty claim, made while the first type's slots are busy, must not make the loop forget that the
    // first type's last claim came back full.
    await query(
      db.url,
      `INSERT INTO job_queue.jobs (type, payload, status, max_attempts)
                         SELECT 'wake.own', '{}', 'pending', 5 FROM generate_series(1, 20)`,
    );
    // No NOTIFY, and a poll interval that allows a single claim of 2 jobs within the deadline below.
    apps.push(
      await startTestApp({ connectionUrl: db.url, concurrency: 4, pollOnly: true, pollIntervalMs: 60_000 }, [
        OwnConcurrency,
      ]),
    );
    await waitFor('all 20 jobs run through freed slots alone', () => ownRuns === 20, 30_000);
    expect(await countJobs(db.url, `type = 'wake.own'`)).toBe(0);
  }, 60_000);

  it('keeps claiming a type held at its limit as its slots free, after a wake-up that only another group used', async () => {
    await query(
      db.url,
      `INSERT INTO job_queue.jobs (type, payload, status, max_attempts)
                         SELECT 'wake.limited', '{}', 'pending', 5 FROM generate_series(1, 10)`,
    );
    const app = await startTestApp({ connectionUrl: db.url, concurrency: 4, pollOnly: true, pollIntervalMs: 60_000 }, [
      Limited,
    ]);
    apps.push(app);
    const poller = app.get<JobPoller, { running: boolean }>(JobPoller);
    // Its claim took 2 and left the rest held by its global concurrency.
    await waitFor('the limited type at its limit', () => limitedRunning === 2);
    // A poll tick (or a NOTIFY) while its own slots are busy: only the other group claims, and finds nothing.
    app.get(JobPoller).tick();
    await waitFor('the claim of the tick done', () => !poller.running);
    limitedBatch.open();
    await waitFor('all 10 jobs run through freed slots alone', () => limitedRuns === 10, 30_000);
    expect(await countJobs(db.url, `type = 'wake.limited'`)).toBe(0);
  }, 60_000);
});
