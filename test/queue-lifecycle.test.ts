import { Injectable, type INestApplicationContext } from '@nestjs/common';
import { JobHandler, JobProducer, UnrecoverableJobError, type JobContext } from '@app/job-queue';
import { createTestDatabase, type TestDatabase } from './support/test-database';
import { startTestApp } from './support/test-app';
import { query } from './support/sql';
import { waitFor } from './support/wait-for';

const seen: Array<{ type: string; payload: unknown; attempt: number }> = [];

@Injectable()
class Handlers {
  @JobHandler('t.ok')
  async ok(payload: unknown, ctx: JobContext) {
    seen.push({ type: ctx.type, payload, attempt: ctx.attempt });
  }

  @JobHandler('t.flaky', { maxAttempts: 4 })
  async flaky(payload: { failTimes: number }, ctx: JobContext) {
    if (ctx.attempt <= payload.failTimes) throw new Error(`fail ${ctx.attempt}`);
  }

  @JobHandler('t.unrecoverable')
  async unrecoverable() {
    throw new UnrecoverableJobError('bad input, never retry');
  }
}

describe('job lifecycle: enqueue → run → complete, retry, dead letter', () => {
  let db: TestDatabase;
  let app: INestApplicationContext;

  beforeAll(async () => {
    db = await createTestDatabase();
    app = await startTestApp(
      { connectionUrl: db.url, retryDelayMs: 10, maxAttempts: 3, pollIntervalMs: 50, concurrency: 4 },
      [Handlers],
    );
    await app.init();
  });

  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  it('runs a job once and deletes it', async () => {
    const { id } = await app.get(JobProducer).enqueue('t.ok', { hello: 'world' });
    await waitFor(
      'job deleted',
      async () => (await query(db.url, 'SELECT 1 FROM job_queue.jobs WHERE id = $1', [id])).length === 0,
    );
    expect(seen.filter((s) => s.type === 't.ok')).toEqual([{ type: 't.ok', payload: { hello: 'world' }, attempt: 1 }]);
  });

  it('retries a failing job until it succeeds, within the handler attempts', async () => {
    const { id } = await app.get(JobProducer).enqueue('t.flaky', { failTimes: 3 });
    await waitFor(
      'flaky job done',
      async () => (await query(db.url, 'SELECT 1 FROM job_queue.jobs WHERE id = $1', [id])).length === 0,
    );
    expect(await query(db.url, 'SELECT 1 FROM job_queue.dead_jobs WHERE id = $1', [id])).toEqual([]);
  });

  it('dead-letters a job after its attempts, with reason, count and snapshot', async () => {
    const { id } = await app.get(JobProducer).enqueue('t.flaky', { failTimes: 99 }, { maxAttempts: 2 });
    const [dead] = await waitFor('dead job', () =>
      query<any>(db.url, 'SELECT * FROM job_queue.dead_jobs WHERE id = $1', [id]).then((r) => (r.length ? r : null)),
    );
    expect(dead).toMatchObject({ type: 't.flaky', failure_reason: 'fail 2', attempt_count: 2, max_attempts: 2 });
    expect(dead.snapshot).toMatchObject({ id, attempt_count: 2, last_error: 'fail 2' });
    expect(dead.snapshot.stack).toContain('fail 2');
    expect(await query(db.url, 'SELECT 1 FROM job_queue.jobs WHERE id = $1', [id])).toEqual([]);
  });

  it('dead-letters an UnrecoverableJobError at once', async () => {
    const { id } = await app.get(JobProducer).enqueue('t.unrecoverable', {});
    const [dead] = await waitFor('dead job', () =>
      query<any>(db.url, 'SELECT * FROM job_queue.dead_jobs WHERE id = $1', [id]).then((r) => (r.length ? r : null)),
    );
    expect(dead).toMatchObject({ failure_reason: 'bad input, never retry', attempt_count: 1, max_attempts: 3 });
  });
});
