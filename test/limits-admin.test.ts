import { Injectable, type INestApplicationContext } from '@nestjs/common';
import {
  JOB_QUEUE_METRICS as METRIC,
  JobHandler,
  JobProducer,
  JobQueueAdmin,
  JobQueueConfigError,
} from '@app/job-queue';
import { QueueDepthSampler } from '@app/job-queue/internal';
import { createTestDatabase, type TestDatabase } from './support/test-database';
import { startTestApp } from './support/test-app';
import { waitFor } from './support/wait-for';
import { query } from './support/sql';
import { gate, metricSample } from './support/queue-probes';

const release = gate();

@Injectable()
class TenantJobs {
  @JobHandler('admin.tenant', { concurrencyPerKey: 1, globalConcurrency: 5 })
  async run(): Promise<void> {
    await release.promise;
  }

  @JobHandler('admin.plain')
  async plain(): Promise<void> {}
}

@Injectable()
class BadLimits {
  @JobHandler('admin.bad', { rateLimit: { max: 0, periodMs: 1000 } })
  async run(): Promise<void> {}
}

/** `JobQueueAdmin.listLimits()` shows each limited type with what runs under it; bad limits stop the app. */
describe('limits in the admin service', () => {
  let db: TestDatabase;
  let app: INestApplicationContext | undefined;

  beforeAll(async () => {
    db = await createTestDatabase();
  });

  afterAll(async () => {
    release.open();
    await app?.close();
    await db?.drop();
  });

  it('lists the limited types with their running jobs, in total and per key', async () => {
    app = await startTestApp({ connectionUrl: db.url, concurrency: 10, pollIntervalMs: 100 }, [TenantJobs]);
    await app.init();
    const producer = app.get(JobProducer);
    const admin = app.get(JobQueueAdmin);
    await producer.enqueueMany([
      ...['A', 'A', 'A', 'B', 'C'].map((key) => ({ type: 'admin.tenant', payload: {}, concurrencyKey: key })),
      { type: 'admin.tenant', payload: {} },
    ]);
    const limits = await waitFor('4 admin.tenant jobs running', async () => {
      const [view] = await admin.listLimits();
      return view?.running === 4 ? view : null;
    });
    expect(limits).toEqual({
      type: 'admin.tenant',
      globalConcurrency: 5,
      concurrencyPerKey: 1,
      rateLimit: null,
      running: 4,
      runningByKey: { A: 1, B: 1, C: 1 },
    });
    expect(await admin.listLimits()).toHaveLength(1);
    // The two jobs of key A behind its running one wait on the limit: the sampled gauge counts them.
    // Sampled again until it shows them: `runOnce` may return a sample already under way, begun before the claims.
    const sampler = app.get(QueueDepthSampler);
    await waitFor('the waiting jobs sampled', async () => {
      await sampler.runOnce();
      return (await metricSample(METRIC.limitWaiting, { type: 'admin.tenant' })) === 2;
    });
  });

  it('refuses a handler with a bad limit at start, naming the handler and the option', async () => {
    const error = await startTestApp({ connectionUrl: db.url, concurrency: 1, instanceId: 'bad-limits' }, [BadLimits])
      .then(async (bad) => {
        await bad.init();
        await bad.close();
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(JobQueueConfigError);
    expect((error as JobQueueConfigError).option).toBe('BadLimits.run rateLimit.max');
    // The app never started, so no shutdown hook runs: the pool the queue opened is closed before the error is
    // thrown, not left to its idle timeout (10 s) or to the process's end.
    await waitFor(
      'the failed start to leave no connection of the queue open',
      async () => {
        const [{ n }] = await query<{ n: number }>(
          db.url,
          `SELECT count(*)::int AS n FROM pg_stat_activity
         WHERE datname = current_database() AND application_name = 'job-queue:bad-limits'`,
        );
        return n === 0;
      },
      3_000,
    );
  });
});
