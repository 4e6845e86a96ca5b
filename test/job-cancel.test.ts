import { Injectable, type INestApplicationContext } from '@nestjs/common';
import {
  JOB_QUEUE_METRICS as METRIC,
  JobHandler,
  JobProducer,
  JobQueueAdmin,
  JobValidationError,
  type JobContext,
} from '@app/job-queue';
import { JobExecutor, JobRepository } from '@app/job-queue/internal';
import { createTestDatabase, type TestDatabase } from './support/test-database';
import { startTestApp } from './support/test-app';
import { query } from './support/sql';
import { waitFor } from './support/wait-for';
import { counterValue, deadRow, gate, jobRow } from './support/queue-probes';

const EFFECTS = 'CREATE TABLE effects (job_id uuid NOT NULL, attempt int NOT NULL)';

/** What each handler saw, by job id: started, aborted by its signal (and with which reason), finished. */
const seen = new Map<string, { started: boolean; abortedWith?: string; finished?: boolean }>();
let hold = gate();

function note(ctx: JobContext) {
  const entry = { started: true } as { started: boolean; abortedWith?: string; finished?: boolean };
  seen.set(ctx.id, entry);
  ctx.signal.addEventListener('abort', () => (entry.abortedWith = (ctx.signal.reason as Error).name));
  return entry;
}

@Injectable()
class Handlers {
  /** Ignores its signal: runs until the test opens the gate, then returns a value. */
  @JobHandler('c.plain', { maxAttempts: 1 })
  async plain(_: unknown, ctx: JobContext) {
    const entry = note(ctx);
    await hold.promise;
    entry.finished = true;
    return { done: ctx.id };
  }

  /** Writes its effect, then ignores its signal until the gate opens, and returns: the effect must not commit. */
  @JobHandler('c.tx', { transactional: true, maxAttempts: 1 })
  async tx(_: unknown, ctx: JobContext) {
    const entry = note(ctx);
    await ctx.manager!.query('INSERT INTO effects (job_id, attempt) VALUES ($1, $2)', [ctx.id, ctx.attempt]);
    await hold.promise;
    entry.finished = true;
  }

  /** Throws once its signal is aborted, as a handler honouring it does: still neither retried nor dead. */
  @JobHandler('c.honours', { maxAttempts: 1 })
  async honours(_: unknown, ctx: JobContext) {
    note(ctx);
    await new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason as Error)));
  }

  /** Notes its start and returns at once. */
  @JobHandler('c.quick')
  async quick(_: unknown, ctx: JobContext) {
    note(ctx).finished = true;
  }

  @JobHandler('c.value')
  async value(payload: { n: number }) {
    return { twice: payload.n * 2 };
  }

  @JobHandler('c.fail', { maxAttempts: 1 })
  async fail() {
    throw new Error('always fails');
  }
}

describe('cancelling jobs', () => {
  let db: TestDatabase;
  let app: INestApplicationContext | undefined;

  beforeAll(async () => {
    db = await createTestDatabase();
    await query(db.url, EFFECTS);
  });

  afterEach(async () => {
    hold.open();
    await app?.close();
    app = undefined;
    hold = gate();
  });

  afterAll(async () => {
    await db?.drop();
  });

  async function start(options: { retentionMs?: number; concurrency?: number; prefetch?: number } = {}) {
    app = await startTestApp(
      {
        connectionUrl: db.url,
        pollIntervalMs: 50,
        concurrency: options.concurrency ?? 10,
        prefetch: options.prefetch ?? 0,
        // A long lease: only the cancel's message can abort the handlers here, not the heartbeat.
        leaseMs: 60_000,
        retention: { completedMs: options.retentionMs ?? 0 },
      },
      [Handlers],
    );
    await app.init();
    return { producer: app.get(JobProducer), admin: app.get(JobQueueAdmin) };
  }

  const status = async (admin: JobQueueAdmin, id: string) => (await admin.getJob(id))?.status;

  it('cancels a pending, a prefetched, a running plain and a running transactional job: none completes', async () => {
    const { producer, admin } = await start({ retentionMs: 60_000, concurrency: 2, prefetch: 2 });
    const cancelledBefore = await counterValue(METRIC.cancelled, { queue: 'default', type: 'c.plain' });
    const plain = await producer.enqueue('c.plain', {});
    const tx = await producer.enqueue('c.tx', {});
    await waitFor('both running', () => seen.get(plain.id)?.started && seen.get(tx.id)?.started);
    // Both slots are busy: these two are claimed into the local queue (prefetch), then a third stays pending.
    const queued = await producer.enqueue('c.plain', {});
    await waitFor('prefetched', async () => (await jobRow(db.url, queued.id))?.status === 'processing');
    const pending = await producer.enqueue('c.plain', {}, { delayMs: 60_000 });

    for (const id of [pending.id, queued.id, plain.id, tx.id]) {
      expect(await admin.cancel(id)).toEqual({ id, status: 'cancelled' });
    }
    // The running handlers were told at once (NOTIFY), long before any heartbeat.
    await waitFor('plain handler aborted', () => seen.get(plain.id)?.abortedWith === 'JobCancelledError', 5_000);
    await waitFor('tx handler aborted', () => seen.get(tx.id)?.abortedWith === 'JobCancelledError', 5_000);
    hold.open();
    await waitFor('handlers returned', () => seen.get(plain.id)?.finished && seen.get(tx.id)?.finished);
    await waitFor('nothing in flight', () =>
      app!
        .get(JobQueueAdmin)
        .stats()
        .then((s) => s.inFlight === 0),
    );

    expect(seen.has(queued.id)).toBe(false); // the prefetched job never started
    expect(seen.has(pending.id)).toBe(false);
    for (const id of [pending.id, queued.id, plain.id, tx.id]) {
      expect(await jobRow(db.url, id)).toBeUndefined();
      expect(await deadRow(db.url, id)).toBeUndefined();
      expect(await status(admin, id)).toBe('cancelled');
    }
    expect(await query(db.url, 'SELECT * FROM effects WHERE job_id = $1', [tx.id])).toEqual([]);
    const [kept] = await query<{ result: unknown; started_at: Date | null }>(
      db.url,
      'SELECT result, started_at FROM job_queue.finished_jobs WHERE id = $1',
      [plain.id],
    );
    expect(kept.result).toBeNull(); // its return value came after the cancel: not kept
    expect(kept.started_at).not.toBeNull();
    expect(await counterValue(METRIC.cancelled, { queue: 'default', type: 'c.plain' })).toBe(cancelledBefore + 3);
  });

  it('a handler that honours its signal after a cancel is neither retried nor dead-lettered', async () => {
    const { producer, admin } = await start({ retentionMs: 60_000 });
    const { id } = await producer.enqueue('c.honours', {});
    await waitFor('running', () => seen.get(id)?.started);
    expect(await admin.cancel(id)).toEqual({ id, status: 'cancelled' });
    await waitFor('aborted', () => seen.get(id)?.abortedWith === 'JobCancelledError');
    await waitFor('nothing in flight', () => admin.stats().then((s) => s.inFlight === 0));
    expect(await deadRow(db.url, id)).toBeUndefined();
    expect(await status(admin, id)).toBe('cancelled');
  });

  /**
   * Holds the result of the claim that takes a `c.quick` job until the test opens the returned gate: the claim has
   * committed (the row is processing here) but the executor has not received the job yet.
   */
  function holdQuickClaim(repository: JobRepository): { held: () => boolean; open: () => void } {
    const release = gate();
    let held = false;
    const claim = repository.completeAndClaim.bind(repository);
    jest.spyOn(repository, 'completeAndClaim').mockImplementation(async (...args) => {
      const result = await claim(...args);
      if (result.jobs.some((j) => j.type === 'c.quick')) {
        held = true;
        await release.promise;
      }
      return result;
    });
    return { held: () => held, open: release.open };
  }

  /** Resolves once the executor has been told of a cancel of `id`, or given a job `id`. */
  function told(executor: JobExecutor, method: 'cancel' | 'accept') {
    const spy = jest.spyOn(executor, method);
    return (id: string) =>
      waitFor(`${method} of ${id}`, () =>
        spy.mock.calls.some(([arg]) =>
          (method === 'cancel' ? [...(arg as string[])] : [(arg as { id: string }).id]).includes(id),
        ),
      );
  }

  it('a cancel told before the claim that took the job has returned: the job is dropped, never started', async () => {
    const { producer, admin } = await start({ retentionMs: 60_000 });
    const executor = app!.get(JobExecutor);
    const claim = holdQuickClaim(app!.get(JobRepository));
    const cancelTold = told(executor, 'cancel');
    const accepted = told(executor, 'accept');
    const { id } = await producer.enqueue('c.quick', {});
    await waitFor('the claim committed, its result held', claim.held);
    expect(await jobRow(db.url, id)).toMatchObject({ status: 'processing' });

    expect(await admin.cancel(id)).toEqual({ id, status: 'cancelled' });
    await cancelTold(id);
    claim.open();
    await accepted(id);
    await waitFor('nothing in flight', () => executor.size === 0);

    expect(seen.has(id)).toBe(false);
    expect(await jobRow(db.url, id)).toBeUndefined();
    expect(await deadRow(db.url, id)).toBeUndefined();
    expect(await status(admin, id)).toBe('cancelled');
  });

  it('a job cancelled while held elsewhere, then retried at once, still runs here under its id', async () => {
    const { admin } = await start({ retentionMs: 60_000 });
    const executor = app!.get(JobExecutor);
    const cancelTold = told(executor, 'cancel');
    // Claimed by another instance: this one only hears of the cancel, and remembers it for a while.
    const [{ id }] = await query<{ id: string }>(
      db.url,
      `INSERT INTO job_queue.jobs (type, payload, status, attempt_count, max_attempts, locked_by, locked_at, lock_token)
       VALUES ('c.quick', '{}', 'processing', 1, 3, 'elsewhere', now(), gen_random_uuid()) RETURNING id`,
    );
    expect(await admin.cancel(id)).toEqual({ id, status: 'cancelled' });
    await cancelTold(id);

    expect(await admin.retryJob(id)).toBe(id);
    await waitFor('ran here', async () => seen.get(id)?.finished && (await status(admin, id)) === 'completed');
    expect(await jobRow(db.url, id)).toBeUndefined();
  });

  it('a cancelled job retried comes back with its concurrency key and trace context', async () => {
    const { admin } = await start({ retentionMs: 60_000 });
    // Of a type nothing here runs, due in an hour: it stays pending to be read before and after.
    const traceContext = { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' };
    const [{ id }] = await query<{ id: string }>(
      db.url,
      `INSERT INTO job_queue.jobs (type, payload, status, max_attempts, next_retry_at, concurrency_key, trace_context)
       VALUES ('c.unserved', '{}', 'pending', 3, now() + interval '1 hour', 'tenant-a', $1) RETURNING id`,
      [JSON.stringify(traceContext)],
    );
    expect(await admin.cancel(id)).toEqual({ id, status: 'cancelled' });
    expect(await admin.retryJob(id)).toBe(id);
    // Without its key, a per-key limit would not count the retried job.
    expect(await jobRow(db.url, id)).toMatchObject({
      status: 'pending',
      concurrency_key: 'tenant-a',
      trace_context: traceContext,
    });
  });

  it('answers clearly: twice, after completion, after death, unknown; with retention on', async () => {
    const { producer, admin } = await start({ retentionMs: 60_000 });
    const done = await producer.enqueue('c.value', { n: 21 });
    const dead = await producer.enqueue('c.fail', {});
    await waitFor('completed', async () => (await status(admin, done.id)) === 'completed');
    await waitFor('dead', async () => (await status(admin, dead.id)) === 'dead');
    const completed = await admin.getJob(done.id);
    expect(completed).toMatchObject({ status: 'completed', attempt_count: 1, result: { twice: 42 } });
    expect(completed!.finished_at).toBeInstanceOf(Date);
    expect(completed!.run_at).toBeInstanceOf(Date);

    const pending = await producer.enqueue('c.plain', {}, { delayMs: 60_000 });
    expect(await admin.cancel(pending.id)).toEqual({ id: pending.id, status: 'cancelled' });
    expect(await admin.cancel(pending.id)).toEqual({
      id: pending.id,
      status: 'already-finished',
      state: 'cancelled',
    });
    expect(await admin.cancel(done.id)).toEqual({ id: done.id, status: 'already-finished', state: 'completed' });
    expect(await admin.cancel(dead.id)).toEqual({ id: dead.id, status: 'already-finished', state: 'dead' });
    const unknown = '00000000-0000-4000-8000-000000000000';
    expect(await admin.cancel(unknown)).toEqual({ id: unknown, status: 'not-found' });
    expect(await admin.cancel('not-a-uuid')).toEqual({ id: 'not-a-uuid', status: 'not-found' });

    // A cancelled job runs again under its id on retry.
    expect(await admin.retryJob(pending.id)).toBe(pending.id);
    // Runnable now, so a worker may have claimed it already.
    expect(['pending', 'processing']).toContain(await status(admin, pending.id));
  });

  it('with retention off, a completed job is gone as before, and a cancel of it reads as not found', async () => {
    const { producer, admin } = await start();
    const done = await producer.enqueue('c.value', { n: 1 });
    await waitFor('completed', async () => !(await jobRow(db.url, done.id)));
    expect(await admin.getJob(done.id)).toBeNull();
    expect(await query(db.url, 'SELECT * FROM job_queue.finished_jobs WHERE id = $1', [done.id])).toEqual([]);
    expect(await admin.cancel(done.id)).toEqual({ id: done.id, status: 'not-found' });
  });

  it('cancels by queue and type in batches, leaving other types alone', async () => {
    const { producer, admin } = await start();
    const { ids: mine } = await producer.enqueueMany(
      Array.from({ length: 25 }, () => ({ type: 'c.plain', payload: {}, delayMs: 60_000 })),
    );
    const other = await producer.enqueue('c.value', { n: 1 }, { delayMs: 60_000 });
    expect(await admin.cancelMany({ queue: 'default', type: 'c.plain', batchSize: 7 })).toEqual({
      cancelled: 25,
      stillHeld: [],
    });
    for (const id of mine) expect(await jobRow(db.url, id)).toBeUndefined();
    expect(await jobRow(db.url, other.id)).toBeDefined();
    await expect(admin.cancelMany({ queue: 'bad queue' })).rejects.toThrow(JobValidationError);
  });
});
