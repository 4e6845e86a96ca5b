import { Injectable, type INestApplicationContext } from '@nestjs/common';
import { JobHandler, JobProducer, JobQueueAdmin, JobValidationError, type JobContext } from '@app/job-queue';
import { JobRepository } from '@app/job-queue/internal';
import { createTestDatabase, type TestDatabase } from './support/test-database';
import { startTestApp } from './support/test-app';
import { query } from './support/sql';
import { waitFor } from './support/wait-for';
import { gate, jobRow } from './support/queue-probes';

const INTERVAL_MS = 200;
const REPORTS = 40;
let hold = gate();
const refused = new Map<string, unknown[]>();

@Injectable()
class Handlers {
  /** Reports 1..REPORTS every 10 ms, then waits for the test with its last value reported. */
  @JobHandler('progress.steps')
  async steps(_: unknown, ctx: JobContext) {
    for (let i = 1; i <= REPORTS; i++) {
      ctx.progress({ done: i, of: REPORTS });
      await new Promise((r) => setTimeout(r, 10));
    }
    await hold.promise;
  }

  /** Tries values the queue must refuse, and records what it was told. */
  @JobHandler('progress.bad')
  async bad(_: unknown, ctx: JobContext) {
    const errors: unknown[] = [];
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    for (const value of [circular, 'x'.repeat(2_000), () => 1]) {
      try {
        ctx.progress(value);
      } catch (error) {
        errors.push(error);
      }
    }
    refused.set(ctx.id, errors);
  }

  @JobHandler('progress.tx', { transactional: true })
  async tx(_: unknown, ctx: JobContext) {
    try {
      ctx.progress(1);
    } catch (error) {
      refused.set(ctx.id, [error]);
    }
  }
}

describe('progress: written throttled by the lease holder, readable while the job runs', () => {
  let db: TestDatabase;
  let app: INestApplicationContext | undefined;
  let producer: JobProducer;

  beforeAll(async () => {
    db = await createTestDatabase();
    // Every progress write, with the database's time of the write.
    await query(db.url, 'CREATE TABLE public.progress_log (seq bigserial, id uuid, progress jsonb, at timestamptz)');
    await query(
      db.url,
      `CREATE FUNCTION public.log_progress() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         INSERT INTO public.progress_log (id, progress, at) VALUES (NEW.id, NEW.progress, clock_timestamp());
         RETURN NEW;
       END $$`,
    );
    await query(
      db.url,
      `CREATE TRIGGER log_progress AFTER UPDATE OF progress ON job_queue.jobs
       FOR EACH ROW WHEN (NEW.progress IS DISTINCT FROM OLD.progress) EXECUTE FUNCTION public.log_progress()`,
    );
    app = await startTestApp(
      { connectionUrl: db.url, pollIntervalMs: 50, progressIntervalMs: INTERVAL_MS, maxProgressBytes: 1_000 },
      [Handlers],
    );
    await app.init();
    producer = app.get(JobProducer);
  });

  afterAll(async () => {
    hold.open();
    await app?.close();
    await db?.drop();
  });

  it('writes at most once per interval, the last value always, and getJob reads it while the job runs', async () => {
    hold = gate();
    // When each write is sent, on the app's clock: the throttle's timer keeps the interval there. The database's
    // clock sees each write after its way through the pool and the network, which a loaded machine stretches.
    const repository = app!.get(JobRepository);
    const writeProgress = repository.writeProgress.bind(repository);
    const sentAt: number[] = [];
    const spy = jest.spyOn(repository, 'writeProgress').mockImplementation((writes) => {
      sentAt.push(performance.now());
      return writeProgress(writes);
    });
    const { id } = await producer.enqueue('progress.steps', {});
    const admin = app!.get(JobQueueAdmin);
    const running = await waitFor('last progress readable', async () => {
      const job = await admin.getJob(id);
      return (job?.progress as { done?: number } | null)?.done === REPORTS ? job : undefined;
    });
    expect(running).toMatchObject({ status: 'processing', progress: { done: REPORTS, of: REPORTS } });

    const writes = await query<{ done: number; gap_ms: number | null }>(
      db.url,
      `SELECT (progress->>'done')::int AS done,
              (extract(epoch FROM at - lag(at) OVER (ORDER BY seq)) * 1000)::float8 AS gap_ms
       FROM public.progress_log WHERE id = $1 ORDER BY seq`,
      [id],
    );
    const gaps = writes.slice(1).map((w) => w.gap_ms!);
    console.log(
      `${REPORTS} reports over ~${REPORTS * 10} ms, ${writes.length} writes (values ${writes.map((w) => w.done).join(', ')}); ` +
        `gaps between writes on the database clock: ${gaps.map((g) => g.toFixed(0)).join(', ')} ms`,
    );
    // Throttled: far fewer writes than reports, the first value first, the last value last, in order.
    expect(writes.length).toBeLessThan(REPORTS / 4);
    expect(writes[0].done).toBe(1);
    expect(writes[writes.length - 1].done).toBe(REPORTS);
    expect(writes.map((w) => w.done)).toEqual([...writes.map((w) => w.done)].sort((a, b) => a - b));
    // The interval is kept between writes (a margin for the tick each write waits for in the batched writer).
    spy.mockRestore();
    expect(sentAt).toHaveLength(writes.length);
    for (const [i, at] of sentAt.slice(1).entries()) expect(at - sentAt[i]).toBeGreaterThan(INTERVAL_MS / 2);

    hold.open();
    await waitFor('job completed', async () => (await jobRow(db.url, id)) === undefined);
  });

  it('a non-lease-holder cannot write progress', async () => {
    hold = gate();
    const { id } = await producer.enqueue('progress.steps', {});
    await waitFor('last progress written', async () => (await jobRow(db.url, id))?.progress?.done === REPORTS);
    const repository = app!.get(JobRepository);
    const before = await jobRow(db.url, id);
    const stale = { id, token: '00000000-0000-4000-8000-000000000000', json: '{"done":-1}' };
    expect(await repository.writeProgress([stale])).toEqual(new Set());
    expect(await jobRow(db.url, id)).toEqual(before);
    expect(await repository.writeProgress([{ ...stale, token: before!.lock_token }])).toEqual(new Set([id]));
    expect((await jobRow(db.url, id))?.progress).toEqual({ done: -1 });
    hold.open();
    await waitFor('job completed', async () => (await jobRow(db.url, id)) === undefined);
  });

  it('refuses a value that is not JSON or too large with a JobValidationError naming progress; writes nothing', async () => {
    const { id } = await producer.enqueue('progress.bad', {});
    await waitFor('job completed', async () => (await jobRow(db.url, id)) === undefined);
    const errors = refused.get(id)!;
    expect(errors).toHaveLength(3);
    for (const error of errors) {
      expect(error).toBeInstanceOf(JobValidationError);
      expect(error).toMatchObject({ field: 'progress' });
    }
    expect((errors[0] as Error).message).toMatch(/not JSON-serializable/);
    expect((errors[1] as Error).message).toMatch(/over the limit of 1000/);
    expect(await query(db.url, 'SELECT 1 FROM public.progress_log WHERE id = $1', [id])).toEqual([]);
  });

  it('refuses progress in a transactional handler, whose transaction holds the row', async () => {
    const { id } = await producer.enqueue('progress.tx', {});
    await waitFor('job completed', async () => (await jobRow(db.url, id)) === undefined);
    expect(refused.get(id)).toEqual([expect.any(JobValidationError)]);
    expect((refused.get(id)![0] as Error).message).toMatch(/transactional handler/);
  });
});
