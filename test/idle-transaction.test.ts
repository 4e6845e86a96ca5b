import { Injectable, type INestApplicationContext } from '@nestjs/common';
import { JOB_QUEUE_METRICS as METRIC, JobHandler, JobProducer } from '@app/job-queue';
import { createTestDatabase, type TestDatabase } from './support/test-database';
import { startTestApp } from './support/test-app';
import { countJobs, metricSample } from './support/queue-probes';
import { deadTuples, stateServerSettings } from './support/server-settings';
import { withClient } from './support/sql';
import { waitFor } from './support/wait-for';

// A bad day, shortened: a steady load, then another session opens a transaction that holds a snapshot and sits
// idle; then it ends. The queue must keep up while it is held and be lean again soon after.
const TYPE = 'idle.noop';
const BATCH = 10;
const BATCH_EVERY_MS = 20; // 500 jobs/s offered
const BEFORE_MS = 12_000;
const HOLD_MS = 18_000;
const VACUUM_THRESHOLD = 1_000;
/** Dead tuples "bounded": a few times the threshold (the statistics lag by a second or so behind the load). */
const DEAD_TUPLES_BOUND = 5 * VACUUM_THRESHOLD;
/** Backlog "bounded": what 4 s of the offered load would leave if nothing were claimed. */
const BACKLOG_BOUND = (4_000 / BATCH_EVERY_MS) * BATCH;
/** Below this a mean wait is timer noise on a loaded machine: the 10× comparison starts from at least this. */
const LATENCY_FLOOR_MS = 5;

@Injectable()
class IdleHandlers {
  @JobHandler(TYPE)
  async noop() {}
}

/** Mean created → claimed wait (ms, database clock) of the jobs claimed since `from`, from the wait histogram. */
async function waitSnapshot() {
  return {
    sum: await metricSample(METRIC.wait, { type: TYPE }, `${METRIC.wait}_sum`),
    count: await metricSample(METRIC.wait, { type: TYPE }, `${METRIC.wait}_count`),
  };
}
function meanWaitMs(from: { sum: number; count: number }, to: { sum: number; count: number }): number {
  return to.count > from.count ? ((to.sum - from.sum) / (to.count - from.count)) * 1000 : Number.POSITIVE_INFINITY;
}

describe('an idle transaction under steady load', () => {
  let db: TestDatabase;
  let app: INestApplicationContext;
  let stopLoad = false;
  let load: Promise<void> = Promise.resolve();

  beforeAll(async () => {
    db = await createTestDatabase();
    await stateServerSettings(db.url, 'idle-transaction');
    app = await startTestApp(
      {
        connectionUrl: db.url,
        pollIntervalMs: 200,
        depthSampleIntervalMs: 500,
        vacuumThreshold: VACUUM_THRESHOLD,
        vacuumIntervalMs: 500,
      },
      [IdleHandlers],
    );
    await app.init();
  });

  afterAll(async () => {
    stopLoad = true;
    await load.catch(() => undefined);
    await app?.close();
    await db?.drop();
  });

  it('keeps the backlog and the pickup latency bounded while held, and the dead tuples bounded before and after', async () => {
    const producer = app.get(JobProducer);
    load = (async () => {
      while (!stopLoad) {
        const started = Date.now();
        await producer.enqueueMany(Array.from({ length: BATCH }, () => ({ type: TYPE, payload: {} })));
        await new Promise((r) => setTimeout(r, Math.max(0, BATCH_EVERY_MS - (Date.now() - started))));
      }
    })();
    const backlog = () => countJobs(db.url, `status = 'pending'`);

    // Before: a steady state. Wait out the start, then measure.
    await waitFor('jobs flowing', async () => (await waitSnapshot()).count > 500);
    const beforeFrom = await waitSnapshot();
    const beforeUntil = Date.now() + BEFORE_MS;
    let backlogBefore = 0;
    await waitFor(
      'the end of the steady phase',
      async () => {
        backlogBefore = Math.max(backlogBefore, await backlog());
        return Date.now() >= beforeUntil;
      },
      BEFORE_MS + 10_000,
      500,
    );
    const beforeTo = await waitSnapshot();
    const latencyBefore = meanWaitMs(beforeFrom, beforeTo);
    const deadBefore = await deadTuples(db.url);
    const vacuumedBefore = await metricSample(METRIC.vacuums, { table: 'jobs', outcome: 'vacuumed' });

    // Held: another session holds a snapshot (REPEATABLE READ) and sits idle in its transaction.
    let backlogHeld = 0;
    let latencyHeld = 0;
    let oldestSeen = 0;
    await withClient(db.url, async (holder) => {
      await holder.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
      await holder.query('SELECT count(*) FROM job_queue.dead_jobs');
      try {
        const heldFrom = await waitSnapshot();
        const heldUntil = Date.now() + HOLD_MS;
        await waitFor(
          'the end of the hold',
          async () => {
            backlogHeld = Math.max(backlogHeld, await backlog());
            oldestSeen = Math.max(oldestSeen, await metricSample(METRIC.oldestTransactionAge, {}));
            return Date.now() >= heldUntil;
          },
          HOLD_MS + 10_000,
          500,
        );
        latencyHeld = meanWaitMs(heldFrom, await waitSnapshot());
      } finally {
        await holder.query('ROLLBACK');
      }
    });
    const deadAtRelease = await deadTuples(db.url);
    const horizonHeld = await metricSample(METRIC.vacuums, { table: 'jobs', outcome: 'horizon_held' });

    // After: the vacuum removes what the transaction kept, within 30 s.
    const endedAt = Date.now();
    await waitFor(
      'dead tuples bounded again',
      async () => (await deadTuples(db.url)) <= DEAD_TUPLES_BOUND,
      30_000,
      250,
    );
    const recoveredInMs = Date.now() - endedAt;
    const backlogAfter = await waitFor(
      'backlog bounded after',
      async () => {
        const n = await backlog();
        return n <= BACKLOG_BOUND ? n + 1 : 0;
      },
      30_000,
      250,
    );
    stopLoad = true;
    await load;

    process.stdout.write(
      `idle-transaction: before: backlog max ${backlogBefore}, wait mean ${latencyBefore.toFixed(1)} ms, dead tuples ${deadBefore}; ` +
        `held ${HOLD_MS / 1000} s: backlog max ${backlogHeld}, wait mean ${latencyHeld.toFixed(1)} ms, dead tuples at release ${deadAtRelease}, ` +
        `oldest transaction seen ${oldestSeen.toFixed(1)} s, vacuums held back ${horizonHeld}; ` +
        `after: dead tuples ≤ ${DEAD_TUPLES_BOUND} within ${recoveredInMs} ms, backlog ${backlogAfter - 1}\n`,
    );
    expect(deadBefore).toBeLessThanOrEqual(DEAD_TUPLES_BOUND);
    expect(vacuumedBefore).toBeGreaterThan(0);
    expect(backlogBefore).toBeLessThanOrEqual(BACKLOG_BOUND);
    expect(backlogHeld).toBeLessThanOrEqual(BACKLOG_BOUND);
    expect(latencyHeld).toBeLessThanOrEqual(10 * Math.max(latencyBefore, LATENCY_FLOOR_MS));
    // The bad day was visible: the transaction's age, and the vacuums it made pointless.
    expect(oldestSeen).toBeGreaterThanOrEqual(5);
    expect(horizonHeld).toBeGreaterThan(0);
  }, 120_000);
});
