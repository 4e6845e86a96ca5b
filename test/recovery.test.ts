import type { INestApplicationContext } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { JOB_QUEUE_METRICS } from '@app/job-queue';
import type { ClaimedJob, JobRepository } from '@app/job-queue/internal';
import { createTestDatabase, type TestDatabase } from './support/test-database';
import { startTestApp } from './support/test-app';
import { query } from './support/sql';
import { waitFor } from './support/wait-for';
import {
  counterValue,
  deadRow,
  installTransitionLog,
  jobRow,
  openRepository,
  transitionsOf,
} from './support/queue-probes';

const RETRY_DELAY_MS = 150;

describe('recovery of expired leases', () => {
  let db: TestDatabase;
  let app: INestApplicationContext;
  /** Plays the instance that crashed: it claims and then never heartbeats, completes or fails. */
  let crashed: { repository: JobRepository; dataSource: DataSource };

  beforeAll(async () => {
    db = await createTestDatabase();
    await installTransitionLog(db.url);
    crashed = await openRepository(db.url);
    // A surviving instance with no handlers of these types: only its recovery cron touches them.
    app = await startTestApp({
      connectionUrl: db.url,
      leaseMs: 1_000,
      recoveryIntervalMs: 100,
      retryDelayMs: RETRY_DELAY_MS,
      instanceId: 'survivor',
    });
  });

  afterAll(async () => {
    await app?.close();
    await crashed?.dataSource.destroy();
    await db?.drop();
  });

  const insertJob = async (type: string, maxAttempts: number) =>
    (
      await query<{ id: string }>(
        db.url,
        `INSERT INTO job_queue.jobs (type, payload, status, max_attempts) VALUES ($1, '{}', 'pending', $2) RETURNING id`,
        [type, maxAttempts],
      )
    )[0].id;
  const claim = async (type: string): Promise<ClaimedJob> =>
    waitFor(
      `claim of ${type}`,
      async () => (await crashed.repository.claimAvailable(['default'], [type], 1, 'crashed'))[0],
    );
  const expire = (id: string) =>
    query(db.url, `UPDATE job_queue.jobs SET locked_at = now() - interval '5 seconds' WHERE id = $1`, [id]);

  it('returns an expired job to pending with backoff and last_error "lease expired"; leaves live leases alone', async () => {
    // The survivor has no handler for the type: its counters label the job `other` (labels never come from rows).
    const labels = { queue: 'default', type: 'other' };
    const recoveredBefore = await counterValue(JOB_QUEUE_METRICS.recovered, labels);
    const expiredId = await insertJob('rec.retry', 3);
    const liveId = await insertJob('rec.live', 3);
    const job = await claim('rec.retry');
    const live = await claim('rec.live');
    // The live lease stands for one its owner keeps renewing: valid for the whole test, however slow the machine.
    await query(db.url, `UPDATE job_queue.jobs SET locked_at = now() + interval '1 minute' WHERE id = $1`, [liveId]);
    await expire(job.id);

    const row = await waitFor('expired job back to pending', async () => {
      const r = await jobRow(db.url, expiredId);
      return r?.status === 'pending' && r;
    });
    expect(row).toMatchObject({
      status: 'pending',
      attempt_count: 1,
      last_error: 'lease expired',
      locked_at: null,
      locked_by: null,
      lock_token: null,
    });
    const [retry] = (await transitionsOf(db.url, expiredId)).filter(
      (t) => t.old_status === 'processing' && t.status === 'pending',
    );
    expect(retry.delay_ms).toBe(1 * RETRY_DELAY_MS);
    // Counted once the rescuer's statement has returned, a moment after its rows show.
    await waitFor(
      'the recovery counted',
      async () => (await counterValue(JOB_QUEUE_METRICS.recovered, labels)) > recoveredBefore,
    );
    expect(await counterValue(JOB_QUEUE_METRICS.recovered, labels)).toBe(recoveredBefore + 1);

    // The rescuer has run since; a lease that has not expired is untouched.
    expect(await jobRow(db.url, liveId)).toMatchObject({
      status: 'processing',
      locked_by: 'crashed',
      lock_token: live.lock_token,
    });
  });

  it('dead-letters a job whose attempts were all spent by expired leases, with reason "lease expired"', async () => {
    const id = await insertJob('rec.poison', 2);
    const first = await claim('rec.poison');
    await expire(id);
    await waitFor('first expiry recovered', async () => (await jobRow(db.url, id))?.status === 'pending');

    // Claimable again once its backoff has passed (database clock), and it expires again on its last attempt.
    const second = await claim('rec.poison');
    expect(second.attempt_count).toBe(2);
    expect(second.lock_token).not.toBe(first.lock_token);
    await expire(id);

    const dead = await waitFor('dead job', () => deadRow(db.url, id));
    expect(dead).toMatchObject({ failure_reason: 'lease expired', attempt_count: 2, max_attempts: 2 });
    expect(dead.snapshot).toMatchObject({ id, last_error: 'lease expired', locked_by: 'crashed' });
    expect(await jobRow(db.url, id)).toBeUndefined();
  });
});
