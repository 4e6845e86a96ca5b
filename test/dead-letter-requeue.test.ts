import { Injectable, type INestApplicationContext } from '@nestjs/common';
import { JobHandler, JobProducer, JobQueueAdmin, UnrecoverableJobError, type JobContext } from '@app/job-queue';
import { createTestDatabase, type TestDatabase } from './support/test-database';
import { startTestApp } from './support/test-app';
import { waitFor } from './support/wait-for';
import { deadRow, installTransitionLog, jobRow, transitionsOf } from './support/queue-probes';
import { query } from './support/sql';

const calls = new Map<string, number[]>();
/** Jobs whose handler succeeds from now on. */
const healed = new Set<string>();

function note(ctx: JobContext) {
  calls.set(ctx.id, [...(calls.get(ctx.id) ?? []), ctx.attempt]);
}

@Injectable()
class Handlers {
  @JobHandler('dl.flaky')
  async flaky(_: unknown, ctx: JobContext) {
    note(ctx);
    if (!healed.has(ctx.id)) throw new Error(`boom on attempt ${ctx.attempt}`);
  }

  @JobHandler('dl.poison')
  async poison(_: unknown, ctx: JobContext) {
    note(ctx);
    if (!healed.has(ctx.id)) throw new UnrecoverableJobError('payload can never work');
  }
}

describe('dead letter and requeue', () => {
  let db: TestDatabase;
  let app: INestApplicationContext;

  beforeAll(async () => {
    db = await createTestDatabase();
    await installTransitionLog(db.url);
    app = await startTestApp(
      { connectionUrl: db.url, retryDelayMs: 10, maxAttempts: 5, pollIntervalMs: 20, concurrency: 4 },
      [Handlers],
    );
  });

  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  const deadJob = (id: string) => waitFor(`job ${id} dead`, () => deadRow(db.url, id));

  it('moves a job to dead_jobs after max_attempts failures, with reason, attempts and snapshot, and out of jobs', async () => {
    // Delayed a little, so that the live row can be read before it runs.
    const { id } = await app
      .get(JobProducer)
      .enqueue('dl.flaky', { to: 'x@example.com' }, { maxAttempts: 3, priority: 7, delayMs: 300 });
    const created = (await jobRow(db.url, id))!.created_at as Date;
    const dead = await deadJob(id);

    expect(dead).toMatchObject({
      id,
      queue: 'default',
      type: 'dl.flaky',
      payload: { to: 'x@example.com' },
      priority: 7,
      failure_reason: 'boom on attempt 3',
      attempt_count: 3,
      max_attempts: 3,
    });
    expect(dead.created_at.getTime()).toBe(created.getTime());
    expect(dead.snapshot).toMatchObject({
      id,
      type: 'dl.flaky',
      payload: { to: 'x@example.com' },
      attempt_count: 3,
      max_attempts: 3,
      last_error: 'boom on attempt 3',
    });
    expect(dead.snapshot.stack).toContain('boom on attempt 3');
    expect(await jobRow(db.url, id)).toBeUndefined();
    expect(calls.get(id)).toEqual([1, 2, 3]);

    const admin = app.get(JobQueueAdmin);
    expect(await admin.getJob(id)).toMatchObject({ id, status: 'dead', attempt_count: 3 });
    expect((await admin.listDeadJobs(10)).map((d) => d.id)).toContain(id);
  });

  it('dead-letters an UnrecoverableJobError on the first attempt, whatever attempts are left', async () => {
    const { id } = await app.get(JobProducer).enqueue('dl.poison', { n: 1 });
    const dead = await deadJob(id);
    expect(dead).toMatchObject({ failure_reason: 'payload can never work', attempt_count: 1, max_attempts: 5 });
    expect(dead.snapshot.stack).toContain('UnrecoverableJobError');
    expect(calls.get(id)).toEqual([1]);
    expect(await jobRow(db.url, id)).toBeUndefined();
  });

  it('requeue brings a dead job back under the same id with attempt_count 0, and it runs again', async () => {
    const { id } = await app.get(JobProducer).enqueue('dl.poison', { n: 2 }, { priority: 3 });
    await deadJob(id);
    healed.add(id);

    const admin = app.get(JobQueueAdmin);
    expect(await admin.requeueDeadJob(id)).toBe(id);
    await waitFor('requeued job completed', async () => !(await jobRow(db.url, id)) && calls.get(id)?.length === 2);

    expect(calls.get(id)).toEqual([1, 1]);
    expect(await deadRow(db.url, id)).toBeUndefined();
    // The requeue inserted it back as pending with fresh attempts, keeping its priority.
    const inserts = (await transitionsOf(db.url, id)).filter((t) => t.op === 'INSERT');
    expect(inserts.map((t) => [t.status, t.attempt_count, t.priority])).toEqual([
      ['pending', 0, 3],
      ['pending', 0, 3],
    ]);
    // Requeueing what is not dead (now gone, or never existed) does nothing.
    expect(await admin.requeueDeadJob(id)).toBeNull();
    expect(await admin.requeueDeadJob('00000000-0000-4000-8000-000000000000')).toBeNull();
  });

  it('requeue restores the concurrency key and the trace context the job died with', async () => {
    // A dead row as the kill writes it (its snapshot is the whole row), of a type no handler here runs: the
    // requeued job stays pending to be read.
    const id = '0190f2a0-0000-7000-8000-00000000d00d';
    const traceContext = { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' };
    await query(
      db.url,
      `INSERT INTO job_queue.dead_jobs (id, queue, type, payload, priority, failure_reason, attempt_count, max_attempts, created_at, snapshot)
       VALUES ($1, 'default', 'dl.unhandled', '{}', 0, 'boom', 1, 1, now(),
               jsonb_build_object('id', $1::uuid, 'concurrency_key', 'tenant-a', 'trace_context', $2::jsonb))`,
      [id, JSON.stringify(traceContext)],
    );
    expect(await app.get(JobQueueAdmin).requeueDeadJob(id)).toBe(id);
    // Without its key, a per-key limit would not count the requeued job.
    expect(await jobRow(db.url, id)).toMatchObject({
      status: 'pending',
      concurrency_key: 'tenant-a',
      trace_context: traceContext,
    });
  });
});
