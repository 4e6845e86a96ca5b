import { Injectable, type INestApplicationContext } from '@nestjs/common';
import { JOB_QUEUE_METRICS, JobHandler, JobProducer, type JobContext } from '@app/job-queue';
import { createTestDatabase, type TestDatabase } from './support/test-database';
import { startTestApp } from './support/test-app';
import { query } from './support/sql';
import { waitFor } from './support/wait-for';
import { counterValue, deadRow, jobRow } from './support/queue-probes';

/**
 * Renewed every second: a stall of this loaded test process up to about two seconds does not expire it, as it would
 * a 1 s lease (see the renewal test of prefetch.test.ts).
 */
const LEASE_MS = 3_000;
const attempts: number[] = [];
let aborted = false;

@Injectable()
class LongHandler {
  /** Works for three leases; honours its signal, so a lost lease would show as an abort. */
  @JobHandler('hb.long')
  async long(_: unknown, ctx: JobContext) {
    attempts.push(ctx.attempt);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(resolve, 3 * LEASE_MS);
      ctx.signal.addEventListener('abort', () => {
        aborted = true;
        clearTimeout(timer);
        reject(ctx.signal.reason as Error);
      });
    });
  }
}

describe('heartbeat: a job may run far longer than its lease while its instance lives', () => {
  let db: TestDatabase;
  let app: INestApplicationContext;

  beforeAll(async () => {
    db = await createTestDatabase();
    app = await startTestApp(
      { connectionUrl: db.url, leaseMs: LEASE_MS, recoveryIntervalMs: 100, pollIntervalMs: 50, retryDelayMs: 10 },
      [LongHandler],
    );
  });

  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  it(`completes a handler that runs 3 × leaseMs, never recovered, attempt_count 1 throughout`, async () => {
    const labels = { queue: 'default', type: 'hb.long' };
    const lostBefore = await counterValue(JOB_QUEUE_METRICS.leaseLost, labels);
    const recoveredBefore = await counterValue(JOB_QUEUE_METRICS.recovered, labels);
    const { id } = await app.get(JobProducer).enqueue('hb.long', {});

    // Watch the row while the job runs: one attempt, always processing, and its lease always fresh.
    const seen: Array<{ status: string; attempt_count: number; lease_age_ms: number }> = [];
    await waitFor(
      'job completed',
      async () => {
        const [row] = await query<{ status: string; attempt_count: number; lease_age_ms: number }>(
          db.url,
          `SELECT status, attempt_count, (extract(epoch FROM now() - locked_at) * 1000)::float8 AS lease_age_ms
         FROM job_queue.jobs WHERE id = $1`,
          [id],
        );
        if (row) seen.push(row);
        return !row && attempts.length > 0;
      },
      30_000,
      50,
    );

    expect(attempts).toEqual([1]);
    expect(aborted).toBe(false);
    // Before the claim the row is pending with no attempt; from the claim to the end, processing on attempt 1.
    const claimedAt = seen.findIndex((s) => s.status === 'processing');
    expect(seen.slice(0, claimedAt).filter((s) => s.status !== 'pending' || s.attempt_count !== 0)).toEqual([]);
    const claimed = seen.slice(claimedAt);
    expect(claimed.length).toBeGreaterThan(10);
    expect(claimed.filter((s) => s.status !== 'processing' || s.attempt_count !== 1)).toEqual([]);
    expect(Math.max(...claimed.map((s) => s.lease_age_ms))).toBeLessThan(LEASE_MS);
    expect(await deadRow(db.url, id)).toBeUndefined();
    expect(await jobRow(db.url, id)).toBeUndefined();
    expect(await counterValue(JOB_QUEUE_METRICS.leaseLost, labels)).toBe(lostBefore);
    expect(await counterValue(JOB_QUEUE_METRICS.recovered, labels)).toBe(recoveredBefore);
  }, 20_000);
});
