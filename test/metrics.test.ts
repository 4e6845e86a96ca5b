import { Injectable, Module, type INestApplicationContext, type LoggerService } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { register } from 'prom-client';
import { JOB_QUEUE_METRICS as METRIC, JobHandler, JobProducer, JobQueueModule, type JobContext } from '@app/job-queue';
import { createTestDatabase, type TestDatabase } from './support/test-database';
import { startTestApp } from './support/test-app';
import { query } from './support/sql';
import { waitFor } from './support/wait-for';
import { metricSample } from './support/queue-probes';

// prom-client has one default registry per module registry: every app of this file writes to it, so each test
// reads the counters before and after and compares the difference, for job types of its own.

const QUEUE = 'mq';
/** The label of types without a handler here and of queues this app does not serve. */
const OTHER = 'other';
const MAX_ATTEMPTS = 3;

/** Lets a test hold a handler mid-run: `entered` resolves when the handler is in, `open()` lets it finish. */
function makeGate() {
  let enter!: () => void;
  let open!: () => void;
  const entered = new Promise<void>((r) => (enter = r));
  const opened = new Promise<void>((r) => (open = r));
  return { entered, open, pass: () => (enter(), opened) };
}
let holdGate = makeGate();

@Injectable()
class MetricHandlers {
  @JobHandler('metrics.ok')
  async ok() {}

  @JobHandler('metrics.flaky')
  async flaky(_: unknown, ctx: JobContext) {
    if (ctx.attempt === 1) throw new Error('fail 1');
  }

  @JobHandler('metrics.poison')
  async poison(_: unknown, ctx: JobContext) {
    throw new Error(`poison ${ctx.attempt}`);
  }

  @JobHandler('metrics.hold')
  async hold() {
    await holdGate.pass();
  }
}

/** Every line logged through Nest's logger, with its level and context. */
class CapturingLogger implements LoggerService {
  readonly lines: Array<{ level: string; message: string; context?: string }> = [];
  private add(level: string, message: unknown, params: unknown[]) {
    const context = typeof params[params.length - 1] === 'string' ? (params[params.length - 1] as string) : undefined;
    this.lines.push({ level, message: String(message), context });
  }
  log(message: unknown, ...params: unknown[]) {
    this.add('log', message, params);
  }
  error(message: unknown, ...params: unknown[]) {
    this.add('error', message, params);
  }
  warn(message: unknown, ...params: unknown[]) {
    this.add('warn', message, params);
  }
  debug(message: unknown, ...params: unknown[]) {
    this.add('debug', message, params);
  }
  verbose(message: unknown, ...params: unknown[]) {
    this.add('verbose', message, params);
  }
  fatal(message: unknown, ...params: unknown[]) {
    this.add('fatal', message, params);
  }

  /** Lines mentioning `id`, as `level: message`. */
  about(id: string): string[] {
    return this.lines.filter((l) => l.message.includes(id)).map((l) => `${l.level}: ${l.message}`);
  }
}

/** The per-type counters and histogram counts this file checks. */
async function countsFor(type: string) {
  const labels = { queue: QUEUE, type };
  const durationCount = (outcome: string) =>
    metricSample(METRIC.duration, { ...labels, outcome }, `${METRIC.duration}_count`);
  return {
    enqueued: await metricSample(METRIC.enqueued, labels),
    completed: await metricSample(METRIC.completed, labels),
    retried: await metricSample(METRIC.retried, labels),
    dead: await metricSample(METRIC.dead, labels),
    recovered: await metricSample(METRIC.recovered, labels),
    leaseLost: await metricSample(METRIC.leaseLost, labels),
    duration: {
      completed: await durationCount('completed'),
      retried: await durationCount('retried'),
      dead: await durationCount('dead'),
      lease_lost: await durationCount('lease_lost'),
    },
    wait: await metricSample(METRIC.wait, labels, `${METRIC.wait}_count`),
  };
}
type Counts = Awaited<ReturnType<typeof countsFor>>;

function minus(a: Counts, b: Counts): Counts {
  const duration = Object.fromEntries(
    Object.entries(a.duration).map(([k, v]) => [k, v - b.duration[k as keyof Counts['duration']]]),
  ) as Counts['duration'];
  return {
    enqueued: a.enqueued - b.enqueued,
    completed: a.completed - b.completed,
    retried: a.retried - b.retried,
    dead: a.dead - b.dead,
    recovered: a.recovered - b.recovered,
    leaseLost: a.leaseLost - b.leaseLost,
    duration,
    wait: a.wait - b.wait,
  };
}

async function deltasFor(types: string[], run: () => Promise<void>): Promise<Record<string, Counts>> {
  const before = Object.fromEntries(await Promise.all(types.map(async (t) => [t, await countsFor(t)] as const)));
  await run();
  const after = Object.fromEntries(await Promise.all(types.map(async (t) => [t, await countsFor(t)] as const)));
  return Object.fromEntries(types.map((t) => [t, minus(after[t], before[t])]));
}

const zero: Counts = {
  enqueued: 0,
  completed: 0,
  retried: 0,
  dead: 0,
  recovered: 0,
  leaseLost: 0,
  duration: { completed: 0, retried: 0, dead: 0, lease_lost: 0 },
  wait: 0,
};

describe('metrics and logs of a run of known outcomes', () => {
  let db: TestDatabase;
  let app: INestApplicationContext;
  const logger = new CapturingLogger();

  beforeAll(async () => {
    db = await createTestDatabase();
    @Module({
      imports: [
        JobQueueModule.forRoot({
          connectionUrl: db.url,
          queues: [QUEUE],
          maxAttempts: MAX_ATTEMPTS,
          retryDelayMs: 10,
          pollIntervalMs: 50,
          concurrency: 8,
          recoveryIntervalMs: 100,
          depthSampleIntervalMs: 100,
        }),
      ],
      providers: [MetricHandlers],
    })
    class MetricsAppModule {}
    app = await NestFactory.createApplicationContext(MetricsAppModule, { logger, abortOnError: false });
    await app.init();
  });

  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  const jobsLeft = async (types: string[]) =>
    Number(
      (await query<{ n: string }>(db.url, 'SELECT count(*) AS n FROM job_queue.jobs WHERE type = ANY($1)', [types]))[0]
        .n,
    );

  it('counts N successes, M retried-once and K dead jobs exactly, with queue and type labels', async () => {
    const N = 3,
      M = 2,
      K = 2;
    const types = ['metrics.ok', 'metrics.flaky', 'metrics.poison'];
    let ids: string[] = [];
    const delta = await deltasFor(types, async () => {
      ({ ids } = await app
        .get(JobProducer)
        .enqueueMany([
          ...Array.from({ length: N }, () => ({ type: 'metrics.ok', payload: {}, queue: QUEUE })),
          ...Array.from({ length: M }, () => ({ type: 'metrics.flaky', payload: {}, queue: QUEUE })),
          ...Array.from({ length: K }, () => ({ type: 'metrics.poison', payload: {}, queue: QUEUE })),
        ]));
      // The counters move just after each write: wait for the last of them, then for the table to be empty.
      await waitFor('every outcome counted', async () => {
        const [ok, flaky, poison] = await Promise.all(types.map(countsFor));
        return ok.completed >= N && flaky.completed >= M && poison.dead >= K && (await jobsLeft(types)) === 0;
      });
    });

    // Attempts: ok 1 each; flaky 2 each (fail, then succeed); poison MAX_ATTEMPTS each, the last one dead-lettered.
    expect(delta).toEqual({
      'metrics.ok': { ...zero, enqueued: N, completed: N, duration: { ...zero.duration, completed: N }, wait: N },
      'metrics.flaky': {
        ...zero,
        enqueued: M,
        completed: M,
        retried: M,
        duration: { ...zero.duration, completed: M, retried: M },
        wait: 2 * M,
      },
      'metrics.poison': {
        ...zero,
        enqueued: K,
        retried: K * (MAX_ATTEMPTS - 1),
        dead: K,
        duration: { ...zero.duration, retried: K * (MAX_ATTEMPTS - 1), dead: K },
        wait: K * MAX_ATTEMPTS,
      },
    });
    const attempts = N + 2 * M + K * MAX_ATTEMPTS;
    const all = Object.values(delta);
    expect(all.reduce((s, c) => s + c.wait, 0)).toBe(attempts);
    expect(all.reduce((s, c) => s + Object.values(c.duration).reduce((a, b) => a + b, 0), 0)).toBe(attempts);
    // Nothing is left running, and the counters sit on the default registry the app's /metrics would expose.
    expect(await metricSample(METRIC.inFlight, {})).toBe(0);
    expect(await metricSample(METRIC.concurrency, {})).toBe(8);
    const text = await register.metrics();
    expect(text).toContain(`${METRIC.completed}{queue="${QUEUE}",type="metrics.ok"}`);
    expect(text).toMatch(
      new RegExp(`${METRIC.duration}_bucket\\{le="[^"]+",queue="${QUEUE}",type="metrics.poison",outcome="dead"\\}`),
    );

    // Logs: one line per failed attempt (retry or dead letter) naming id, type and attempt; none per success.
    const [okIds, flakyIds, poisonIds] = [ids.slice(0, N), ids.slice(N, N + M), ids.slice(N + M)];
    for (const id of okIds) expect(logger.about(id)).toEqual([]);
    for (const id of flakyIds) {
      expect(logger.about(id)).toEqual([
        expect.stringMatching(
          new RegExp(`^warn: Job ${id} \\(metrics\\.flaky\\) attempt 1/3 failed, retry in \\d+ ms: fail 1$`),
        ),
      ]);
    }
    for (const id of poisonIds) {
      expect(logger.about(id)).toEqual([
        expect.stringMatching(
          new RegExp(`^warn: Job ${id} \\(metrics\\.poison\\) attempt 1/3 failed, retry in \\d+ ms: poison 1$`),
        ),
        expect.stringMatching(
          new RegExp(`^warn: Job ${id} \\(metrics\\.poison\\) attempt 2/3 failed, retry in \\d+ ms: poison 2$`),
        ),
        `warn: Job ${id} (metrics.poison) attempt 3/3 failed, dead-lettered: poison 3`,
      ]);
    }
  });

  it('counts a lost lease once, as lease_lost and not as completed, and logs it once', async () => {
    holdGate = makeGate();
    let id = '';
    const delta = await deltasFor(['metrics.hold'], async () => {
      ({ id } = await app.get(JobProducer).enqueue('metrics.hold', {}, { queue: QUEUE }));
      await holdGate.entered;
      // Another instance's rescuer took the job over: the lock token is no longer this attempt's.
      await query(db.url, 'UPDATE job_queue.jobs SET lock_token = gen_random_uuid() WHERE id = $1', [id]);
      holdGate.open();
      await waitFor('lease loss counted', async () => (await countsFor('metrics.hold')).duration.lease_lost === 1);
    });
    expect(delta['metrics.hold']).toEqual({
      ...zero,
      enqueued: 1,
      leaseLost: 1,
      duration: { ...zero.duration, lease_lost: 1 },
      wait: 1,
    });
    expect(logger.about(id)).toEqual([
      expect.stringMatching(
        new RegExp(`^warn: Job ${id} \\(metrics\\.hold\\) attempt 1 lost its lease at (completion|heartbeat): `),
      ),
    ]);
  });

  it('counts and logs jobs the rescuer recovers from a dead instance, back to pending or dead-lettered', async () => {
    let rows: Array<{ id: string; attempt_count: number }> = [];
    // No handler of this app runs their type: they count under `other` (labels never come from the rows).
    const delta = await deltasFor([OTHER], async () => {
      // Two jobs an instance claimed an hour ago and never finished; no handler here runs their type.
      rows = await query(
        db.url,
        `INSERT INTO job_queue.jobs (queue, type, payload, status, attempt_count, max_attempts, locked_at, locked_by, lock_token)
         VALUES ($1, 'metrics.crashed', '{}', 'processing', 1, 3, now() - interval '1 hour', 'gone', gen_random_uuid()),
                ($1, 'metrics.crashed', '{}', 'processing', 3, 3, now() - interval '1 hour', 'gone', gen_random_uuid())
         RETURNING id, attempt_count`,
        [QUEUE],
      );
      await waitFor('both recovered', async () => (await countsFor(OTHER)).recovered === 2);
    });
    expect(delta[OTHER]).toEqual({ ...zero, recovered: 2, dead: 1 });
    const [back, killed] = rows;
    expect(logger.about(back.id)).toEqual([
      `warn: Job ${back.id} (metrics.crashed) attempt 1/3 lease expired (its instance stopped or stalled); back to pending`,
    ]);
    expect(logger.about(killed.id)).toEqual([
      `warn: Job ${killed.id} (metrics.crashed) attempt 3/3 lease expired on its last attempt; dead-lettered`,
    ]);
  });

  it('takes label values from its handlers and queues only: any other type or queue a producer sends counts as other', async () => {
    const tag = `x${Date.now()}`;
    const strangeTypes = Array.from({ length: 20 }, (_, n) => `client.${tag}.${n}`);
    const strangeQueue = `q-${tag}`;
    const enqueued = (labels: Record<string, string>) => metricSample(METRIC.enqueued, labels);
    const before = {
      other: await enqueued({ queue: QUEUE, type: OTHER }),
      otherQueue: await enqueued({ queue: OTHER, type: 'metrics.ok' }),
    };
    const producer = app.get(JobProducer);
    // Far in the future, so that none of them runs while this test looks.
    const later = { delayMs: 3_600_000 };
    await producer.enqueueMany(strangeTypes.map((type) => ({ type, payload: {}, queue: QUEUE, ...later })));
    await producer.enqueue('metrics.ok', {}, { queue: strangeQueue, ...later });
    expect((await enqueued({ queue: QUEUE, type: OTHER })) - before.other).toBe(20);
    expect((await enqueued({ queue: OTHER, type: 'metrics.ok' })) - before.otherQueue).toBe(1);
    // The depth sampler reads every queue in the table; an unserved one adds to `other`.
    const otherDepth = () => metricSample(METRIC.depth, { queue: OTHER, status: 'pending' });
    await waitFor('the unserved queue sampled as other', async () => (await otherDepth()) >= 1);
    const text = await register.metrics();
    expect(text).not.toContain(tag);
    await query(db.url, `DELETE FROM job_queue.jobs WHERE type = ANY($1) OR queue = $2`, [strangeTypes, strangeQueue]);
  });

  it('samples depth by queue and status, and the age of the oldest runnable pending job', async () => {
    await query(
      db.url,
      `INSERT INTO job_queue.jobs (queue, type, payload, status, max_attempts, next_retry_at, created_at)
       VALUES ($1, 'metrics.orphan', '{}', 'pending', 3, now() - interval '1 hour', now() - interval '1 hour')`,
      [QUEUE],
    );
    const inTables = async () => {
      const rows = await query<{ status: string; n: number }>(
        db.url,
        `SELECT status, count(*)::int AS n FROM job_queue.jobs WHERE queue = $1 GROUP BY status
         UNION ALL SELECT 'dead', count(*)::int FROM job_queue.dead_jobs WHERE queue = $1`,
        [QUEUE],
      );
      return Object.fromEntries(rows.map((r) => [r.status, r.n]));
    };
    // Whatever the earlier tests left, the gauge must show what the tables hold (the orphan at least).
    const expected = await inTables();
    expect(expected.pending).toBeGreaterThanOrEqual(1);
    await waitFor('the depth gauge matches the tables', async () => {
      const sampled = {
        pending: await metricSample(METRIC.depth, { queue: QUEUE, status: 'pending' }),
        processing: await metricSample(METRIC.depth, { queue: QUEUE, status: 'processing' }),
        dead: await metricSample(METRIC.depth, { queue: QUEUE, status: 'dead' }),
      };
      return JSON.stringify(sampled) === JSON.stringify(expected);
    });
    const age = await waitFor('oldest pending age sampled', async () => {
      const seconds = await metricSample(METRIC.oldestPendingAge, {});
      return seconds >= 3600 ? seconds : undefined;
    });
    expect(age).toBeLessThan(3600 + 60);
  });
});

describe('two apps in one process', () => {
  const seen: string[] = [];

  @Injectable()
  class TwinHandler {
    @JobHandler('metrics.twin')
    async twin(payload: { app: string }) {
      seen.push(payload.app);
    }
  }

  it('start, share the metrics of the default registry, and close without a registry collision', async () => {
    const [dbA, dbB] = await Promise.all([createTestDatabase(), createTestDatabase()]);
    const options = { queues: [QUEUE], pollIntervalMs: 50 };
    let a: INestApplicationContext | undefined;
    let b: INestApplicationContext | undefined;
    try {
      const labels = { queue: QUEUE, type: 'metrics.twin' };
      const before = await metricSample(METRIC.completed, labels);
      a = await startTestApp({ ...options, connectionUrl: dbA.url }, [TwinHandler]);
      b = await startTestApp({ ...options, connectionUrl: dbB.url }, [TwinHandler]);
      await Promise.all([a.init(), b.init()]);
      await a.get(JobProducer).enqueue('metrics.twin', { app: 'a' }, { queue: QUEUE });
      await b.get(JobProducer).enqueue('metrics.twin', { app: 'b' }, { queue: QUEUE });
      await waitFor('both jobs counted', async () => (await metricSample(METRIC.completed, labels)) - before === 2);
      expect(seen.sort()).toEqual(['a', 'b']);
      // One metric per name in the registry, both apps writing to it.
      const names = register.getMetricsAsArray().map((m) => (m as unknown as { name: string }).name);
      for (const name of Object.values(METRIC)) expect(names.filter((n) => n === name)).toEqual([name]);
      await Promise.all([a.close(), b.close()]);
      [a, b] = [undefined, undefined];
      // A third app after both closed still starts (a test suite or a hot reload does this).
      a = await startTestApp({ ...options, connectionUrl: dbA.url, concurrency: 0 }, []);
      await a.init();
      // Its queue is empty: the depth gauge reads 0 for each status of a served queue, not "no data".
      await waitFor(
        'zero depth sampled',
        async () => {
          const { values } = await register.getSingleMetric(METRIC.depth)!.get();
          const mine = values.filter((v) => v.labels.queue === QUEUE).map((v) => `${v.labels.status}=${v.value}`);
          return mine.sort().join(' ') === 'dead=0 pending=0 processing=0';
        },
        10_000,
      );
    } finally {
      await Promise.all([a?.close(), b?.close()]);
      await Promise.all([dbA.drop(), dbB.drop()]);
    }
  }, 30_000);
});
