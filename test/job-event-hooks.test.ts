import { Injectable, type INestApplicationContext } from '@nestjs/common';
import {
  JobHandler,
  JobProducer,
  JobQueueAdmin,
  JobQueueConfigError,
  OnJobEvent,
  type JobContext,
  type JobEvent,
} from '@app/job-queue';
import { JobRescuer } from '@app/job-queue/internal';
import { createTestDatabase, type TestDatabase } from './support/test-database';
import { startTestApp } from './support/test-app';
import { query } from './support/sql';
import { waitFor } from './support/wait-for';
import { deadRow, jobRow, openDataSource } from './support/queue-probes';

let dbUrl = '';
/** Every hook call, with the state of the database the hook saw when it ran. */
const heard: Array<{ hook: string; event: JobEvent; live: Record<string, any> | undefined; dead: boolean }> = [];
const hangs: Array<() => void> = [];

const observe = async (hook: string, event: JobEvent) => {
  const live = await jobRow(dbUrl, event.id);
  const dead = (await deadRow(dbUrl, event.id)) !== undefined;
  heard.push({ hook, event, live, dead });
};
const heardOf = (id: string, hook?: string) => heard.filter((h) => h.event.id === id && (!hook || h.hook === hook));

@Injectable()
class Handlers {
  @JobHandler('hook.ok')
  async ok(payload: { n: number }) {
    return { doubled: payload.n * 2 };
  }

  @JobHandler('hook.fail', { maxAttempts: 2, backoff: { type: 'linear', delayMs: 1_000 } })
  async fail(): Promise<void> {
    throw new Error('always fails');
  }

  @JobHandler('hook.tx-ok', { transactional: true })
  async txOk(_: unknown, ctx: JobContext) {
    await ctx.manager!.query('INSERT INTO effects (job_id) VALUES ($1)', [ctx.id]);
  }

  @JobHandler('hook.tx-fail', { transactional: true, maxAttempts: 1 })
  async txFail(_: unknown, ctx: JobContext) {
    await ctx.manager!.query('INSERT INTO effects (job_id) VALUES ($1)', [ctx.id]);
    throw new Error('tx fails');
  }

  @JobHandler('hook.crash', { maxAttempts: 1 })
  async crash(): Promise<void> {}
}

@Injectable()
class Hooks {
  @OnJobEvent('hook.ok', 'completed')
  @OnJobEvent('hook.tx-ok', 'completed')
  async completed(event: JobEvent) {
    await observe('completed', event);
  }

  @OnJobEvent('hook.fail', ['failed', 'dead'])
  @OnJobEvent('hook.tx-fail', 'dead')
  @OnJobEvent('hook.crash', 'dead')
  async failures(event: JobEvent) {
    await observe(event.event, event);
  }

  @OnJobEvent('*', ['completed', 'failed', 'dead', 'cancelled'])
  async everything(event: JobEvent) {
    await observe(`*:${event.event}`, event);
  }

  /** Throws synchronously on every event of every job: must change nothing. */
  @OnJobEvent('*', ['completed', 'failed', 'dead'])
  throws(): void {
    throw new Error('hook throws');
  }

  /** Rejects later, on every completion. */
  @OnJobEvent('*', 'completed')
  async rejects(): Promise<void> {
    await new Promise((r) => setTimeout(r, 5));
    throw new Error('hook rejects');
  }

  /** Never settles until the test lets it: must not hold up the worker. */
  @OnJobEvent('hook.ok', 'completed')
  hangs(): Promise<void> {
    return new Promise((resolve) => hangs.push(resolve));
  }
}

describe('@OnJobEvent hooks: once per committed outcome, isolated from the job and the worker', () => {
  let db: TestDatabase;
  let app: INestApplicationContext | undefined;
  let producer: JobProducer;

  beforeAll(async () => {
    db = await createTestDatabase();
    dbUrl = db.url;
    await query(db.url, 'CREATE TABLE effects (job_id uuid NOT NULL)');
    app = await startTestApp(
      { connectionUrl: db.url, pollIntervalMs: 50, retryDelayMs: 10, leaseMs: 1_000, recoveryIntervalMs: 60_000 },
      [Handlers, Hooks],
    );
    await app.init();
    producer = app.get(JobProducer);
  });

  afterAll(async () => {
    for (const resolve of hangs) resolve();
    await app?.close();
    await db?.drop();
  });

  it('completed: once, after the commit (the row is gone), with the result; throwing hooks change nothing', async () => {
    const jobs = await Promise.all([1, 2, 3].map((n) => producer.enqueue('hook.ok', { n })));
    // Each hook starts in a task of its own (the type's, the wildcard's, the one that hangs): wait for all of them.
    for (const { id } of jobs) {
      await waitFor(
        'completed hooks',
        () => heardOf(id, 'completed').length === 1 && heardOf(id, '*:completed').length === 1,
      );
    }
    await waitFor('the hanging hooks started', () => hangs.length === 3);
    // The worker went on while a hook hung and others threw: every job completed, none retried or dead.
    for (const [i, { id }] of jobs.entries()) {
      expect(await jobRow(db.url, id)).toBeUndefined();
      expect(await deadRow(db.url, id)).toBeUndefined();
      const [{ event, live, dead }] = heardOf(id, 'completed');
      expect(event).toEqual({
        event: 'completed',
        id,
        type: 'hook.ok',
        queue: 'default',
        payload: { n: i + 1 },
        attempt: 1,
        maxAttempts: 5,
        result: { doubled: (i + 1) * 2 },
      });
      expect({ live, dead }).toEqual({ live: undefined, dead: false });
      expect(heardOf(id, '*:completed')).toHaveLength(1);
    }
  });

  it('failed per retried attempt, then dead once, each after its write committed', async () => {
    const { id } = await producer.enqueue('hook.fail', {});
    await waitFor('dead hook', () => heardOf(id, 'dead').length === 1);
    await waitFor('wildcard hooks', () => heardOf(id, '*:dead').length === 1);
    const failed = heardOf(id, 'failed');
    expect(failed).toHaveLength(1);
    expect(failed[0].event).toMatchObject({ event: 'failed', attempt: 1, maxAttempts: 2, error: 'always fails' });
    // The retry had committed: the row was pending again, its error recorded, its lease cleared.
    expect(failed[0].live).toMatchObject({ status: 'pending', last_error: 'always fails', lock_token: null });
    const [dead] = heardOf(id, 'dead');
    expect(dead.event).toMatchObject({ event: 'dead', attempt: 2, error: 'always fails', payload: {} });
    expect({ live: dead.live, dead: dead.dead }).toEqual({ live: undefined, dead: true });
    expect(heardOf(id, '*:failed')).toHaveLength(1);
    // The hooks that threw did not touch the job: one dead row, no second dead letter, nothing left in jobs.
    expect(await query(db.url, 'SELECT count(*)::int AS n FROM job_queue.dead_jobs WHERE id = $1', [id])).toEqual([
      { n: 1 },
    ]);
  });

  it('transactional handlers: completed sees its effect committed, dead sees the dead row and no effect', async () => {
    const ok = await producer.enqueue('hook.tx-ok', {});
    const bad = await producer.enqueue('hook.tx-fail', {});
    await waitFor('completed hook', () => heardOf(ok.id, 'completed').length === 1);
    await waitFor('dead hook', () => heardOf(bad.id, 'dead').length === 1);
    expect(heardOf(ok.id, 'completed')[0]).toMatchObject({ live: undefined, dead: false });
    expect(heardOf(bad.id, 'dead')[0]).toMatchObject({ live: undefined, dead: true });
    expect(heardOf(bad.id, 'dead')[0].event).toMatchObject({ error: 'tx fails', attempt: 1 });
    const effects = await query<{ job_id: string }>(db.url, 'SELECT job_id FROM effects');
    expect(effects.map((e) => e.job_id)).toEqual([ok.id]);
  });

  it('dead from the rescuer (lease expired on the last attempt) reaches the hooks of the instance that rescued it', async () => {
    // Another instance claimed the job and died holding it, on its last attempt.
    const [{ id }] = await query<{ id: string }>(
      db.url,
      `INSERT INTO job_queue.jobs (type, payload, status, max_attempts, attempt_count, lock_token, locked_by, locked_at)
       VALUES ('hook.crash', '{"k":1}', 'processing', 1, 1, gen_random_uuid(), 'dead-instance', now() - interval '1 hour')
       RETURNING id`,
    );
    await app!.get(JobRescuer).runOnce();
    await waitFor('dead hook', () => heardOf(id, 'dead').length === 1);
    expect(heardOf(id, 'dead')[0]).toMatchObject({
      event: { event: 'dead', payload: { k: 1 }, attempt: 1, error: 'lease expired' },
      live: undefined,
      dead: true,
    });
  });

  it('cancelled: a cancel through the admin service reaches the hooks once, after it committed', async () => {
    const { id } = await app!.get(JobProducer).enqueue('hook.ok', { a: 1 }, { delayMs: 3_600_000 });
    expect(await app!.get(JobQueueAdmin).cancel(id)).toEqual({ id, status: 'cancelled' });
    await waitFor('cancelled hook', () => heardOf(id, '*:cancelled').length === 1);
    expect(heardOf(id, '*:cancelled')[0]).toMatchObject({
      event: { event: 'cancelled', id, type: 'hook.ok', queue: 'default', payload: { a: 1 }, attempt: 0 },
      live: undefined,
    });
    // Only hooks that listen to cancelled ran: the type's completed hooks did not.
    expect(heardOf(id)).toHaveLength(1);
  });
});

describe('@OnJobEvent validation', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase();
  });

  afterAll(async () => {
    await db?.drop();
  });

  @Injectable()
  class BadType {
    @OnJobEvent('no spaces allowed', 'dead')
    hook(): void {}
  }

  @Injectable()
  class BadEvent {
    @OnJobEvent('email.send', 'finished' as 'dead')
    hook(): void {}
  }

  it.each([
    ['a type that is neither a job type nor *', BadType, /BadType\.hook: the type must be '\*' or match/],
    ['an unknown event', BadEvent, /BadEvent\.hook: events must be among completed, failed, dead, cancelled/],
  ])('stops the app on %s, naming the method', async (_, provider, message) => {
    // The app owns this DataSource, so the failed start leaves nothing open behind it.
    const dataSource = await openDataSource(db.url, 2);
    try {
      const start = startTestApp({ dataSource, concurrency: 0 }, [provider]);
      await expect(start).rejects.toBeInstanceOf(JobQueueConfigError);
      await expect(start).rejects.toThrow(message);
    } finally {
      await dataSource.destroy();
    }
  });
});
