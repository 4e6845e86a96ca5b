import { Injectable, Module, type INestApplicationContext, type LoggerService, type Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Client } from 'pg';
import {
  JOB_QUEUE_METRICS,
  JobHandler,
  JobProducer,
  JobQueueConfigError,
  JobQueueModule,
  type JobContext,
  type JobQueueModuleOptions,
} from '@app/job-queue';
import { JobHeartbeat, JobExecutor, JobRepository } from '@app/job-queue/internal';
import { CapturingLogger } from './support/capturing-logger';
import { createTestDatabase, type TestDatabase } from './support/test-database';
import { startTestApp } from './support/test-app';
import { query } from './support/sql';
import { waitFor } from './support/wait-for';
import {
  counterValue,
  countJobs,
  deadRow,
  gate,
  holdRowLock,
  jobRow,
  metricSample,
  RELEASE_STATE_COLUMNS,
  RELEASED_UNTRIED,
  releaseWaitsOnLock,
  waitForBlockedClaim,
} from './support/queue-probes';

// One database for the file; each test uses job types of its own and leaves the tables empty. prom-client's default
// registry is shared by every app of the file, so metric checks compare a before and an after, per type.

/** Handlers running at this moment and the most seen at once, per type and over all; reset by each test. */
class RunningCounter {
  all = 0;
  maxAll = 0;
  readonly byType = new Map<string, number>();
  readonly maxByType = new Map<string, number>();
  /** Every start, in order: a job started twice shows twice. */
  readonly starts: Array<{ id: string; type: string; attempt: number }> = [];
  readonly finished: string[] = [];

  enter(ctx: JobContext): void {
    this.starts.push({ id: ctx.id, type: ctx.type, attempt: ctx.attempt });
    this.all += 1;
    this.maxAll = Math.max(this.maxAll, this.all);
    const now = (this.byType.get(ctx.type) ?? 0) + 1;
    this.byType.set(ctx.type, now);
    this.maxByType.set(ctx.type, Math.max(this.maxByType.get(ctx.type) ?? 0, now));
  }

  leave(ctx: JobContext): void {
    this.all -= 1;
    this.byType.set(ctx.type, (this.byType.get(ctx.type) ?? 1) - 1);
    this.finished.push(ctx.id);
  }

  startedIds(): string[] {
    return this.starts.map((s) => s.id);
  }
}

let counter = new RunningCounter();
/** Holds the gated handlers until the test opens it; replaced by each test that uses it. */
let hold = gate();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---- handlers, one class per scenario so that each app claims only its own types ----

/** A provider whose one handler, for `type`, counts its runs and waits for the current `hold` gate. */
function gatedHandlers(type: string): Type<unknown> {
  @Injectable()
  class GatedHandlers {
    @JobHandler(type)
    async run(_: unknown, ctx: JobContext) {
      counter.enter(ctx);
      try {
        await hold.promise;
      } finally {
        counter.leave(ctx);
      }
    }
  }
  return GatedHandlers;
}

const AheadHandlers = gatedHandlers('pf.ahead');
const ShutdownHandlers = gatedHandlers('pf.shutdown');
const LostHandlers = gatedHandlers('pf.lost');
const LockedHandlers = gatedHandlers('pf.shutdown-locked');

/**
 * The lease of the renewal test: renewed every second, so a stall of this loaded test process up to about two seconds
 * does not expire it (with a 1 s lease, a stall of 2.5 s gave the timeout CI once showed); a job works for 0.7 of it.
 */
const RENEW_LEASE_MS = 3_000;
const RENEW_WORK_MS = 2_100;
/** Per job of the renewal test: how long it waited between its claim and its handler's start, by the database clock. */
const queuedForMs = new Map<string, number>();
let renewUrl = '';
let renewAborted = false;

@Injectable()
class RenewHandlers {
  /** Works for RENEW_WORK_MS; honours its signal, so a lost lease would show as an abort. */
  @JobHandler('pf.renew')
  async renew(_: unknown, ctx: JobContext) {
    counter.enter(ctx);
    try {
      // The claim wrote updated_at; renewals write only locked_at: the difference is the time spent queued.
      const [row] = await query<{ waited_ms: number }>(
        renewUrl,
        `SELECT (extract(epoch FROM clock_timestamp() - updated_at) * 1000)::float8 AS waited_ms
         FROM job_queue.jobs WHERE id = $1`,
        [ctx.id],
      );
      queuedForMs.set(ctx.id, row.waited_ms);
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(resolve, RENEW_WORK_MS);
        ctx.signal.addEventListener('abort', () => {
          renewAborted = true;
          clearTimeout(timer);
          reject(ctx.signal.reason as Error);
        });
      });
    } finally {
      counter.leave(ctx);
    }
  }
}

/** Handler starts of `pf.instant`, whose handler never waits: it settles in a microtask. */
let instantStarts = 0;

@Injectable()
class InstantHandlers {
  @JobHandler('pf.instant')
  async instant() {
    instantStarts += 1;
  }
}

const NARROW_LIMIT = 1;
/** The most `pf.open` handlers seen running at once while a `pf.narrow` handler was running. */
let maxOpenWhileNarrowRuns = 0;

@Injectable()
class LimitHandlers {
  @JobHandler('pf.narrow', { concurrency: NARROW_LIMIT })
  async narrow(_: unknown, ctx: JobContext) {
    counter.enter(ctx);
    try {
      await sleep(120);
    } finally {
      counter.leave(ctx);
    }
  }

  @JobHandler('pf.open')
  async open(_: unknown, ctx: JobContext) {
    counter.enter(ctx);
    if ((counter.byType.get('pf.narrow') ?? 0) > 0) {
      maxOpenWhileNarrowRuns = Math.max(maxOpenWhileNarrowRuns, counter.byType.get('pf.open') ?? 0);
    }
    try {
      await sleep(40);
    } finally {
      counter.leave(ctx);
    }
  }
}

describe('prefetch: jobs claimed ahead of free slots wait, leased, in a local queue', () => {
  let db: TestDatabase;
  const open = new Set<INestApplicationContext>();

  /** startTestApp, with a logger when the test reads what the app said. */
  const start = async (options: Partial<JobQueueModuleOptions>, providers: Type[], logger?: LoggerService) => {
    const all: JobQueueModuleOptions = {
      connectionUrl: db.url,
      pollIntervalMs: 50,
      retryDelayMs: 10,
      depthSampleIntervalMs: 0,
      ...options,
    };
    let app: INestApplicationContext;
    if (logger) {
      @Module({ imports: [JobQueueModule.forRoot(all)], providers })
      class LoggedAppModule {}
      app = await NestFactory.createApplicationContext(LoggedAppModule, { logger, abortOnError: false });
    } else {
      app = await startTestApp(all, providers);
    }
    open.add(app);
    return app;
  };
  const close = async (app: INestApplicationContext) => {
    open.delete(app);
    await app.close();
  };

  /** Rows `status = 'processing'` locked by `instanceId`. */
  const held = (instanceId: string) => countJobs(db.url, `status = 'processing' AND locked_by = $1`, [instanceId]);

  beforeAll(async () => {
    db = await createTestDatabase();
    renewUrl = db.url;
  });

  beforeEach(() => {
    counter = new RunningCounter();
    hold = gate();
  });

  afterEach(async () => {
    hold.open();
    for (const app of [...open]) await close(app).catch(() => undefined);
    await query(db.url, 'DELETE FROM job_queue.jobs');
  });

  afterAll(async () => {
    await db?.drop();
  });

  it('runs at most concurrency handlers while it holds concurrency + prefetch claimed rows; then runs each job once', async () => {
    const C = 2;
    const P = 6;
    const JOBS = 12;
    const app = await start({ concurrency: C, prefetch: P, instanceId: 'pf-ahead' }, [AheadHandlers]);

    // The database's view, sampled from the enqueue to the end: rows held by this instance.
    let maxHeld = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) maxHeld = Math.max(maxHeld, await held('pf-ahead'));
    })();

    const { ids } = await app
      .get(JobProducer)
      .enqueueMany(Array.from({ length: JOBS }, () => ({ type: 'pf.ahead', payload: {} })));
    await waitFor(`${C + P} rows claimed ahead`, async () => (await held('pf-ahead')) === C + P);
    await waitFor(`${C} handlers running`, () => counter.all === C);
    // Nothing more may happen while the handlers are held: give the poller several ticks (50 ms each) and NOTIFYs
    // their chance to claim more or start a queued job, then check that neither happened.
    await sleep(300);
    expect(counter.starts).toHaveLength(C);
    expect(await held('pf-ahead')).toBe(C + P);
    expect(await countJobs(db.url, `status = 'pending'`)).toBe(JOBS - C - P);

    hold.open();
    await waitFor('all jobs done', async () => counter.finished.length === JOBS && (await countJobs(db.url)) === 0);
    sampling = false;
    await sampler;

    expect(counter.maxAll).toBe(C);
    // Held rows: C + P while the handlers were held; after, a claim may commit before the completions of the attempts
    // that freed its room are written (on another connection), never past twice that (`JobExecutor.claimable`).
    expect(maxHeld).toBeGreaterThanOrEqual(C + P);
    expect(maxHeld).toBeLessThanOrEqual(2 * (C + P));
    // Exactly once each, on the first attempt.
    expect(counter.startedIds().sort()).toEqual([...ids].sort());
    expect(counter.starts.every((s) => s.attempt === 1)).toBe(true);
    expect(new Set(counter.finished)).toEqual(new Set(ids));
    expect(counter.finished).toHaveLength(JOBS);
  });

  it('handlers that never wait: the next claim leaves while claimed jobs are still queued here', async () => {
    // A settled handler starts the next queued job in a microtask; a turn of the event loop that ran the whole
    // local queue would send the claim wanted at half of it only once the queue is empty, and the worker would
    // alternate with the database instead of overlapping it.
    const C = 4;
    const P = 400;
    const JOBS = 4_000;
    instantStarts = 0;
    const app = await start({ concurrency: C, prefetch: P, instanceId: 'pf-instant' }, [InstantHandlers]);
    const repository = app.get(JobRepository);
    const claimAndComplete = repository.completeAndClaim.bind(repository);
    // Per claim sent while the backlog was being claimed (after the first that found jobs, before the last): how
    // many jobs this instance held claimed but not started.
    const queuedAtClaim: number[] = [];
    let claimed = 0;
    jest.spyOn(repository, 'completeAndClaim').mockImplementation(async (...args) => {
      if (claimed > 0 && claimed < JOBS) queuedAtClaim.push(claimed - instantStarts);
      const result = await claimAndComplete(...args);
      claimed += result.jobs.length;
      return result;
    });

    await app.get(JobProducer).enqueueMany(Array.from({ length: JOBS }, () => ({ type: 'pf.instant', payload: {} })));
    await waitFor('all jobs done', async () => instantStarts === JOBS && (await countJobs(db.url)) === 0);

    expect(instantStarts).toBe(JOBS);
    expect(queuedAtClaim.length).toBeGreaterThanOrEqual(JOBS / (C + P));
    // A quarter of the queue starts per turn at most, so the claim wanted at half of it leaves with jobs still
    // queued. With the whole queue in one turn, every one of these claims left with none.
    expect(queuedAtClaim.filter((queued) => queued > 0).length).toBeGreaterThanOrEqual(queuedAtClaim.length * 0.75);
  });

  it('renews the leases of queued jobs: a job queued for over two leases runs once, on attempt 1, never recovered', async () => {
    const logger = new CapturingLogger();
    const labels = { queue: 'default', type: 'pf.renew' };
    const lostBefore = await counterValue(JOB_QUEUE_METRICS.leaseLost, labels);
    const recoveredBefore = await counterValue(JOB_QUEUE_METRICS.recovered, labels);
    const JOBS = 4;
    renewAborted = false;
    queuedForMs.clear();
    const app = await start(
      { concurrency: 1, prefetch: 3, leaseMs: RENEW_LEASE_MS, recoveryIntervalMs: 100, instanceId: 'pf-renew' },
      [RenewHandlers],
      logger,
    );

    // Every lease this instance holds, queued or running, stays fresh while the jobs run (the database's clock).
    let oldestLeaseMs = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const [row] = await query<{ age_ms: number | null }>(
          db.url,
          `SELECT max(extract(epoch FROM now() - locked_at) * 1000)::float8 AS age_ms
           FROM job_queue.jobs WHERE status = 'processing'`,
        );
        oldestLeaseMs = Math.max(oldestLeaseMs, row.age_ms ?? 0);
      }
    })();

    const { ids } = await app
      .get(JobProducer)
      .enqueueMany(Array.from({ length: JOBS }, () => ({ type: 'pf.renew', payload: {} })));
    await waitFor(
      'all jobs done',
      async () => counter.finished.length >= JOBS && (await countJobs(db.url)) === 0,
      30_000,
    );
    sampling = false;
    await sampler;

    // The scenario happened: one claim took them all, and the last waited, queued, well past its lease.
    expect(Math.max(...queuedForMs.values())).toBeGreaterThan(1.5 * RENEW_LEASE_MS);
    expect(counter.maxAll).toBe(1);
    expect(counter.startedIds().sort()).toEqual([...ids].sort());
    expect(counter.starts.map((s) => s.attempt)).toEqual([1, 1, 1, 1]);
    expect(renewAborted).toBe(false);
    expect(oldestLeaseMs).toBeLessThan(RENEW_LEASE_MS);
    for (const id of ids) expect(await deadRow(db.url, id)).toBeUndefined();
    expect(await counterValue(JOB_QUEUE_METRICS.recovered, labels)).toBe(recoveredBefore);
    expect(await counterValue(JOB_QUEUE_METRICS.leaseLost, labels)).toBe(lostBefore);
    expect(logger.warnings.filter((w) => /lease/i.test(w))).toEqual([]);
  }, 20_000);

  it('at shutdown releases queued jobs at once (pending, unlocked, attempt refunded) while the running one finishes', async () => {
    const app = await start({ concurrency: 1, prefetch: 4, shutdownTimeoutMs: 5_000, instanceId: 'pf-sd' }, [
      ShutdownHandlers,
    ]);
    const { ids } = await app
      .get(JobProducer)
      .enqueueMany(Array.from({ length: 5 }, () => ({ type: 'pf.shutdown', payload: {} })));
    await waitFor('all five claimed', async () => (await held('pf-sd')) === 5);
    await waitFor('one handler running', () => counter.starts.length === 1);
    const running = counter.starts[0].id;
    const queued = ids.filter((id) => id !== running);

    const closing = close(app);
    // The queued jobs go back while the running handler is still held: release does not wait for the drain.
    await waitFor(
      'queued jobs released',
      async () => (await countJobs(db.url, `status = 'pending' AND id = ANY($1)`, [queued])) === 4,
    );
    expect(await jobRow(db.url, running)).toMatchObject({ status: 'processing', locked_by: 'pf-sd', attempt_count: 1 });
    expect(counter.finished).toEqual([]);
    hold.open();
    await closing;

    // The running job was drained to completion; the queued ones never started here.
    expect(counter.finished).toEqual([running]);
    expect(await jobRow(db.url, running)).toBeUndefined();
    expect(counter.startedIds()).toEqual([running]);
    const rows = await query<Record<string, unknown>>(
      db.url,
      `SELECT id, ${RELEASE_STATE_COLUMNS} FROM job_queue.jobs ORDER BY id`,
    );
    expect(rows).toEqual([...queued].sort().map((id) => ({ id, ...RELEASED_UNTRIED })));

    // Another instance, without prefetch, takes them at once, each on its first attempt.
    const second = await start({ concurrency: 2, prefetch: 0, instanceId: 'pf-sd-2' }, [ShutdownHandlers]);
    await waitFor(
      'queued jobs run elsewhere',
      async () => counter.finished.length === 5 && (await countJobs(db.url)) === 0,
    );
    expect(
      counter.starts
        .slice(1)
        .map((s) => s.id)
        .sort(),
    ).toEqual([...queued].sort());
    expect(counter.starts.map((s) => s.attempt)).toEqual([1, 1, 1, 1, 1]);
    await close(second);
  });

  it('at shutdown waits for a queued row someone holds for a moment, and releases it too, its one attempt refunded', async () => {
    // A heartbeat renewing the row, or another instance's claim that met it, holds it for a moment; a release that
    // skipped it would leave it processing, locked by a stopped instance, its attempt spent (dead after the lease).
    const app = await start(
      { concurrency: 1, prefetch: 3, shutdownTimeoutMs: 5_000, recoveryIntervalMs: 60_000, instanceId: 'pf-sd-locked' },
      [LockedHandlers],
    );
    const { ids } = await app
      .get(JobProducer)
      .enqueueMany(Array.from({ length: 4 }, () => ({ type: 'pf.shutdown-locked', payload: {}, maxAttempts: 1 })));
    await waitFor('all four claimed', async () => (await held('pf-sd-locked')) === 4);
    await waitFor('one handler running', () => counter.starts.length === 1);
    const running = counter.starts[0].id;
    const queued = ids.filter((id) => id !== running);
    const [locked, ...others] = queued;

    const lock = await holdRowLock(db.url, locked);
    let closing: Promise<void> | undefined;
    try {
      closing = close(app);
      // The release waits for the held row; (before this was fixed, it skipped it and released the others only.)
      await waitFor(
        'the release waiting on the held row, or done without it',
        async () =>
          (await releaseWaitsOnLock(db.url, 'pf-sd-locked')) ||
          (await countJobs(db.url, `status = 'pending' AND id = ANY($1)`, [others])) === others.length,
      );
    } finally {
      await lock.end();
    }
    hold.open();
    await closing;

    expect(counter.startedIds()).toEqual([running]);
    const rows = await query<Record<string, unknown>>(
      db.url,
      `SELECT id, ${RELEASE_STATE_COLUMNS} FROM job_queue.jobs ORDER BY id`,
    );
    expect(rows).toEqual([...queued].sort().map((id) => ({ id, ...RELEASED_UNTRIED })));
  });

  it('at shutdown leaves a row held past the wait to its lease and says so; releases the rest', async () => {
    const logger = new CapturingLogger();
    const app = await start(
      { concurrency: 1, prefetch: 2, shutdownTimeoutMs: 5_000, recoveryIntervalMs: 60_000, instanceId: 'pf-sd-held' },
      [LockedHandlers],
      logger,
    );
    const { ids } = await app
      .get(JobProducer)
      .enqueueMany(Array.from({ length: 3 }, () => ({ type: 'pf.shutdown-locked', payload: {} })));
    await waitFor('all three claimed', async () => (await held('pf-sd-held')) === 3);
    await waitFor('one handler running', () => counter.starts.length === 1);
    const running = counter.starts[0].id;
    const [locked, other] = ids.filter((id) => id !== running);

    // Held until shutdown is over: longer than any release waits.
    const lock = await holdRowLock(db.url, locked);
    try {
      const closing = close(app);
      await waitFor('the other queued job released', async () => (await jobRow(db.url, other))?.status === 'pending');
      hold.open();
      await closing;
    } finally {
      await lock.end();
    }

    expect(await jobRow(db.url, locked)).toMatchObject({
      status: 'processing',
      locked_by: 'pf-sd-held',
      attempt_count: 1,
    });
    expect(logger.warnings.filter((w) => w.includes(locked))).toEqual([
      expect.stringMatching(/could not release job .*left processing until its lease expires/),
    ]);
    const [row] = await query<Record<string, unknown>>(
      db.url,
      `SELECT ${RELEASE_STATE_COLUMNS} FROM job_queue.jobs WHERE id = $1`,
      [other],
    );
    expect(row).toEqual(RELEASED_UNTRIED);
    expect(counter.startedIds()).toEqual([running]);
  });

  it('starts no queued job once shutdown has begun, even when a slot frees before the release', async () => {
    // Shutdown stops the poller, then waits for the listener, the maintenance tasks and any claim under way before
    // it releases the local queue. Hold it in that window with a claim blocked on a table lock, free the running
    // slot there, and check that the slot is not given to a queued job.
    const app = await start(
      { concurrency: 1, prefetch: 4, shutdownTimeoutMs: 5_000, recoveryIntervalMs: 60_000, instanceId: 'pf-sd-window' },
      [ShutdownHandlers],
    );
    // Three jobs: one runs, two wait, and the local queue has room, so the poller keeps claiming on every tick.
    const { ids } = await app
      .get(JobProducer)
      .enqueueMany(Array.from({ length: 3 }, () => ({ type: 'pf.shutdown', payload: {} })));
    await waitFor('all three claimed', async () => (await held('pf-sd-window')) === 3);
    await waitFor('one handler running', () => counter.starts.length === 1);
    const running = counter.starts[0].id;
    const queued = ids.filter((id) => id !== running);

    const blocker = new Client({ connectionString: db.url });
    blocker.on('error', () => undefined);
    await blocker.connect();
    let closing: Promise<void> | undefined;
    try {
      await blocker.query('BEGIN');
      await blocker.query('LOCK TABLE job_queue.jobs IN EXCLUSIVE MODE');
      await waitForBlockedClaim(db.url, 'pf-sd-window');
      closing = close(app);
      // Shutdown has stopped claiming and listening once the listener's connection is gone; it now waits for the claim.
      await waitFor('listener closed', async () => {
        const rows = await query(
          db.url,
          `SELECT 1 FROM pg_stat_activity WHERE application_name = 'job-queue-listener:pf-sd-window'`,
        );
        return rows.length === 0;
      });
      hold.open();
      await waitFor('running handler finished', () => counter.finished.includes(running));
      // A queued job would start within microtasks of the freed slot (the gate is open): a short window proves it did not.
      await sleep(150);
      expect(counter.startedIds()).toEqual([running]);
    } finally {
      await blocker.query('COMMIT').catch(() => undefined);
      await blocker.end();
      await closing;
    }

    expect(await jobRow(db.url, running)).toBeUndefined();
    const rows = await query<Record<string, unknown>>(
      db.url,
      `SELECT id, status, locked_by, lock_token, attempt_count FROM job_queue.jobs ORDER BY id`,
    );
    expect(rows).toEqual(
      [...queued].sort().map((id) => ({ id, status: 'pending', locked_by: null, lock_token: null, attempt_count: 0 })),
    );
  });

  it('drops a queued job whose lease the heartbeat finds taken: it never runs here, and the loss counts once', async () => {
    // Long lease and intervals: the heartbeat and the rescuer run only when the test calls them.
    const app = await start(
      { concurrency: 1, prefetch: 2, leaseMs: 60_000, recoveryIntervalMs: 60_000, instanceId: 'pf-lost' },
      [LostHandlers],
    );
    const labels = { queue: 'default', type: 'pf.lost' };
    const lostBefore = await counterValue(JOB_QUEUE_METRICS.leaseLost, labels);
    const lostAttemptsBefore = await metricSample(
      JOB_QUEUE_METRICS.duration,
      { ...labels, outcome: 'lease_lost' },
      `${JOB_QUEUE_METRICS.duration}_count`,
    );

    const { ids } = await app
      .get(JobProducer)
      .enqueueMany(Array.from({ length: 3 }, () => ({ type: 'pf.lost', payload: {} })));
    await waitFor('all three claimed', async () => (await held('pf-lost')) === 3);
    await waitFor('one handler running', () => counter.starts.length === 1);
    const running = counter.starts[0].id;
    const [victim, survivor] = ids.filter((id) => id !== running);
    const executor = app.get(JobExecutor);
    expect(executor.size).toBe(3);

    // Another instance took the queued job over (as after a recovery and a new claim).
    await query(db.url, `UPDATE job_queue.jobs SET lock_token = gen_random_uuid(), locked_by = 'thief' WHERE id = $1`, [
      victim,
    ]);
    const taken = await jobRow(db.url, victim);
    const heartbeat = app.get(JobHeartbeat);
    await heartbeat.runOnce();
    expect(await counterValue(JOB_QUEUE_METRICS.leaseLost, labels)).toBe(lostBefore + 1);
    expect(executor.size).toBe(2);
    // A second heartbeat no longer knows the job: no second count.
    await heartbeat.runOnce();
    expect(await counterValue(JOB_QUEUE_METRICS.leaseLost, labels)).toBe(lostBefore + 1);

    hold.open();
    await waitFor(
      'the other two done',
      async () => counter.finished.length === 2 && (await countJobs(db.url, 'id <> $1', [victim])) === 0,
    );
    await waitFor('executor idle', () => executor.size === 0);
    expect(counter.startedIds().sort()).toEqual([running, survivor].sort());
    expect(counter.startedIds()).not.toContain(victim);
    // The thief's row is untouched, and the dropped job was never an attempt here (no duration sample for it).
    expect(await jobRow(db.url, victim)).toEqual(taken);
    expect(await deadRow(db.url, victim)).toBeUndefined();
    expect(await counterValue(JOB_QUEUE_METRICS.leaseLost, labels)).toBe(lostBefore + 1);
    expect(
      await metricSample(
        JOB_QUEUE_METRICS.duration,
        { ...labels, outcome: 'lease_lost' },
        `${JOB_QUEUE_METRICS.duration}_count`,
      ),
    ).toBe(lostAttemptsBefore);
  });

  it("keeps a handler's own concurrency with prefetch, while other types run beside it", async () => {
    const C = 3;
    maxOpenWhileNarrowRuns = 0;
    const app = await start({ concurrency: C, prefetch: 6, instanceId: 'pf-limit' }, [LimitHandlers]);
    const jobs = [
      ...Array.from({ length: 6 }, () => ({ type: 'pf.narrow', payload: {} })),
      ...Array.from({ length: 18 }, () => ({ type: 'pf.open', payload: {} })),
    ];
    const { ids } = await app.get(JobProducer).enqueueMany(jobs);
    await waitFor(
      'all jobs done',
      async () => counter.finished.length === ids.length && (await countJobs(db.url)) === 0,
    );

    expect(counter.maxByType.get('pf.narrow')).toBe(NARROW_LIMIT);
    expect(maxOpenWhileNarrowRuns).toBeGreaterThanOrEqual(2);
    expect(counter.maxAll).toBeLessThanOrEqual(C);
    expect(counter.startedIds().sort()).toEqual([...ids].sort());
  });

  it.each([-1, 1.5])('refuses prefetch %p at start with JobQueueConfigError naming "prefetch"', async (prefetch) => {
    const error = await startTestApp({ connectionUrl: db.url, prefetch }).then(
      async (app) => {
        await app.close();
        throw new Error('the app started, but it should have failed');
      },
      (e: Error) => e,
    );
    expect(error).toBeInstanceOf(JobQueueConfigError);
    expect((error as JobQueueConfigError).option).toBe('prefetch');
    expect(error.message).toContain('"prefetch"');
  });
});
