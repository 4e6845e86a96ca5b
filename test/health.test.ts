import { Injectable, type INestApplicationContext } from '@nestjs/common';
import { JobHandler, JobQueueHealthIndicator } from '@app/job-queue';
import { createTestDatabase, withDatabase, type TestDatabase } from './support/test-database';
import { startTestApp } from './support/test-app';
import { query, withClient } from './support/sql';
import { waitFor } from './support/wait-for';
import { JobPoller } from '@app/job-queue/internal';

const POLL_INTERVAL_MS = 100;

@Injectable()
class HealthHandlers {
  @JobHandler('health.noop')
  async noop() {}
}

/** The server's maintenance database: where a test blocks and unblocks its own database. */
function serverUrl(db: TestDatabase): string {
  const server = process.env.JOB_QUEUE_TEST_SERVER_URL ?? process.env.DATABASE_URL;
  return server ?? withDatabase(db.url, 'postgres');
}

async function allowConnections(db: TestDatabase, allow: boolean): Promise<void> {
  await withClient(serverUrl(db), async (admin) => {
    await admin.query(`ALTER DATABASE "${db.name}" WITH ALLOW_CONNECTIONS ${allow}`);
    // Cut the connections already open (the pool's and the LISTEN one): with new ones refused, nothing answers.
    if (!allow) {
      await admin.query(
        'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
        [db.name],
      );
    }
  });
}

describe('JobQueueHealthIndicator', () => {
  let db: TestDatabase;
  let app: INestApplicationContext;
  let indicator: JobQueueHealthIndicator;

  beforeAll(async () => {
    db = await createTestDatabase();
    app = await startTestApp({ connectionUrl: db.url, pollIntervalMs: POLL_INTERVAL_MS }, [HealthHandlers]);
    await app.init();
    indicator = app.get(JobQueueHealthIndicator);
  });

  afterAll(async () => {
    if (db) await allowConnections(db, true).catch(() => undefined);
    await app?.close();
    await db?.drop();
  });

  it('is up when the database answers and the claim loop ticks, listener state included', async () => {
    // Up once listening; and only while the claim loop ticked within three intervals, which a stall of this loaded
    // process (not the queue) can pass: wait for both.
    const result = await waitFor('listening and up', async () => {
      const r = await indicator.isHealthy();
      return r.job_queue.listener === 'listening' && r.job_queue.status === 'up' ? r : undefined;
    });
    expect(result).toEqual({ job_queue: { status: 'up', listener: 'listening', lastPollMsAgo: expect.any(Number) } });
    expect(result.job_queue.lastPollMsAgo).toBeLessThanOrEqual(3 * POLL_INTERVAL_MS);
    // Under the key it is given.
    await waitFor('up under the key given', async () => (await indicator.isHealthy('queue')).queue?.status === 'up');
  });

  it('is down past the optional dead-letter and backlog thresholds', async () => {
    // A dead job and a runnable job of a type no instance runs, waiting for an hour.
    await query(
      db.url,
      `INSERT INTO job_queue.dead_jobs (id, queue, type, payload, priority, failure_reason, attempt_count, max_attempts, created_at, snapshot)
       VALUES (gen_random_uuid(), 'default', 'health.gone', '{}', 0, 'boom', 1, 1, now(), '{}')`,
    );
    await query(
      db.url,
      `INSERT INTO job_queue.jobs (type, payload, status, max_attempts, next_retry_at)
       VALUES ('health.unhandled', '{}', 'pending', 1, now() - interval '1 hour')`,
    );
    expect(await indicator.isHealthy('job_queue', { maxDeadJobs: 1 })).toMatchObject({
      job_queue: { status: 'up', dead: 1 },
    });
    expect(await indicator.isHealthy('job_queue', { maxDeadJobs: 0 })).toMatchObject({
      job_queue: { status: 'down', dead: 1, message: '1 dead jobs (threshold 0)' },
    });
    const backlog = await indicator.isHealthy('job_queue', { maxBacklogAgeMs: 60_000 });
    expect(backlog).toMatchObject({
      job_queue: { status: 'down', message: expect.stringMatching(/^the oldest pending job has waited \d+ ms$/) },
    });
    expect(backlog.job_queue.oldestPendingMs).toBeGreaterThanOrEqual(3_600_000);
    expect(await indicator.isHealthy('job_queue', { maxBacklogAgeMs: 7_200_000 })).toMatchObject({
      job_queue: { status: 'up' },
    });
    await query(db.url, `DELETE FROM job_queue.jobs WHERE type = 'health.unhandled'`);
    await query(db.url, `DELETE FROM job_queue.dead_jobs WHERE type = 'health.gone'`);
  });

  it('reports a degraded claim past maxClaimMs: the median of the claims of the window', async () => {
    // The claim loop claims (and finds nothing) on every poll tick: there are recent claims to judge.
    const up = await waitFor('claims in the window', async () => {
      const r = await indicator.isHealthy('job_queue', { maxClaimMs: 60_000 });
      return r.job_queue.claimMs !== undefined ? r : undefined;
    });
    expect(up).toMatchObject({ job_queue: { status: 'up', claimMs: expect.any(Number) } });
    expect(up.job_queue.claimMs).toBeLessThan(60_000);
    expect(await indicator.isHealthy('job_queue', { maxClaimMs: 0 })).toMatchObject({
      job_queue: {
        status: 'down',
        claimMs: expect.any(Number),
        message: expect.stringMatching(
          /^claims are degraded: median [\d.]+ ms over the last \d+ claims \(threshold 0 ms\)$/,
        ),
      },
    });
    // No claim in the window: nothing to judge.
    const idle = await indicator.isHealthy('job_queue', { maxClaimMs: 0, claimWindowMs: 0 });
    expect(idle.job_queue.status).toBe('up');
    expect(idle.job_queue).not.toHaveProperty('claimMs');
  });

  it('is down when a query does not answer within the timeout', async () => {
    await withClient(db.url, async (locker) => {
      // Another session holds the jobs table: the backlog query waits on its lock.
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE job_queue.jobs IN ACCESS EXCLUSIVE MODE');
      try {
        const started = Date.now();
        const result = await indicator.isHealthy('job_queue', { maxBacklogAgeMs: 60_000, timeoutMs: 200 });
        expect(Date.now() - started).toBeLessThan(1_000);
        expect(result).toMatchObject({ job_queue: { status: 'down', message: 'database: no answer within 200 ms' } });
      } finally {
        await locker.query('ROLLBACK');
      }
    });
    expect(await indicator.isHealthy('job_queue', { maxBacklogAgeMs: 60_000 })).toMatchObject({
      job_queue: { status: 'up' },
    });
  });

  it('is down when the claim loop has not ticked for three poll intervals (a blocked event loop)', async () => {
    await waitFor('a fresh tick', async () => (await indicator.isHealthy()).job_queue.status === 'up');
    // Block the event loop itself: no timer can fire, exactly what the check is there to catch.
    const until = Date.now() + 4 * POLL_INTERVAL_MS;
    while (Date.now() < until) {
      // busy
    }
    const result = await indicator.isHealthy();
    expect(result).toMatchObject({
      job_queue: { status: 'down', message: expect.stringMatching(/^the claim loop has not run for \d+ ms$/) },
    });
    expect(result.job_queue.lastPollMsAgo).toBeGreaterThan(3 * POLL_INTERVAL_MS);
    await waitFor('ticking again', async () => (await indicator.isHealthy()).job_queue.status === 'up', 5_000);
  });

  it('names a blocked event loop as such, even while a claim it sent is out', async () => {
    await waitFor('up', async () => (await indicator.isHealthy()).job_queue.status === 'up');
    await withClient(db.url, async (locker) => {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE job_queue.jobs IN ACCESS EXCLUSIVE MODE');
      try {
        // A statement of the claim loop waits on the lock: it is out when the event loop stops.
        const poller = app.get(JobPoller);
        await waitFor('a claim waiting on the lock', () => poller.claimWaiting);
        const until = Date.now() + 4 * POLL_INTERVAL_MS;
        while (Date.now() < until) {
          // busy
        }
        expect(await indicator.isHealthy()).toMatchObject({
          job_queue: { status: 'down', message: expect.stringMatching(/^the claim loop has not run for \d+ ms$/) },
        });
      } finally {
        await locker.query('ROLLBACK');
      }
    });
    await waitFor('up again', async () => (await indicator.isHealthy()).job_queue.status === 'up');
  });

  it('is down when a claim has not returned for three poll intervals (it waits on a lock)', async () => {
    await waitFor('up', async () => (await indicator.isHealthy()).job_queue.status === 'up');
    await withClient(db.url, async (locker) => {
      // A migration's ALTER TABLE queued behind a long transaction holds the table the same way: the claim waits,
      // the poll interval keeps ticking, and no job runs.
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE job_queue.jobs IN ACCESS EXCLUSIVE MODE');
      try {
        // Waited for as a condition: on a loaded machine a late tick may first read as a stalled event loop.
        const down = await waitFor(
          'down, naming the claim that waits',
          async () => {
            const r = await indicator.isHealthy();
            return r.job_queue.status === 'down' && String(r.job_queue.message).startsWith('a claim') ? r : undefined;
          },
          10_000,
        );
        expect(down.job_queue).toMatchObject({
          message: expect.stringMatching(/^a claim has not returned for \d+ ms$/),
        });
        expect(down.job_queue.lastPollMsAgo).toBeGreaterThan(3 * POLL_INTERVAL_MS);
      } finally {
        await locker.query('ROLLBACK');
      }
    });
    await waitFor('up once the claim returns', async () => (await indicator.isHealthy()).job_queue.status === 'up');
  });

  it('is down within seconds of the database becoming unreachable, and up again once it is back', async () => {
    await waitFor('up', async () => (await indicator.isHealthy()).job_queue.status === 'up');
    await allowConnections(db, false);
    const cutAt = Date.now();
    const down = await waitFor(
      'down',
      async () => {
        const r = await indicator.isHealthy();
        return r.job_queue.status === 'down' ? r : undefined;
      },
      5_000,
    );
    expect(Date.now() - cutAt).toBeLessThan(5_000);
    expect(down).toEqual({
      job_queue: {
        status: 'down',
        listener: expect.stringMatching(/^(polling|listening)$/),
        lastPollMsAgo: expect.any(Number),
        message: expect.stringMatching(/^database: /),
      },
    });
    // It stays down while the database refuses connections, and the listener notices too.
    await waitFor('listener lost', async () => (await indicator.isHealthy()).job_queue.listener === 'polling', 5_000);
    expect((await indicator.isHealthy()).job_queue.status).toBe('down');

    await allowConnections(db, true);
    const up = await waitFor(
      'up again',
      async () => {
        const r = await indicator.isHealthy();
        return r.job_queue.status === 'up' ? r : undefined;
      },
      5_000,
    );
    expect(up.job_queue).not.toHaveProperty('message');
    await waitFor(
      'listening again',
      async () => (await indicator.isHealthy()).job_queue.listener === 'listening',
      15_000,
    );
  }, 30_000);
});
