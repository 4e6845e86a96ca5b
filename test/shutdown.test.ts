import { Injectable, type INestApplicationContext } from '@nestjs/common';
import { Client } from 'pg';
import { JobHandler, JobProducer, type JobContext, type JobQueueModuleOptions } from '@app/job-queue';
import { createTestDatabase, type TestDatabase } from './support/test-database';
import { startTestApp } from './support/test-app';
import { query } from './support/sql';
import { waitFor } from './support/wait-for';
import {
  gate,
  holdRowLock,
  jobRow,
  RELEASE_STATE_COLUMNS,
  RELEASED_UNTRIED,
  releaseWaitsOnLock,
  waitForBlockedClaim,
} from './support/queue-probes';

const started = new Set<string>();
const finished = new Set<string>();
const abortReasons = new Map<string, string>();
/** Holds the handler that ignores its signal until the end of the file. */
const stubborn = gate();

@Injectable()
class Handlers {
  @JobHandler('sd.short')
  async short(_: unknown, ctx: JobContext) {
    started.add(ctx.id);
    await new Promise((r) => setTimeout(r, 300));
    finished.add(ctx.id);
  }

  /** Ignores its signal: shutdown must not wait for it past the timeout. */
  @JobHandler('sd.ignores-signal')
  async ignoresSignal(_: unknown, ctx: JobContext) {
    started.add(ctx.id);
    await stubborn.promise;
    finished.add(ctx.id);
  }

  /** Runs until its signal is aborted, then gives up. */
  @JobHandler('sd.honours-signal')
  async honoursSignal(_: unknown, ctx: JobContext) {
    started.add(ctx.id);
    await new Promise<void>((_, reject) =>
      ctx.signal.addEventListener('abort', () => {
        abortReasons.set(ctx.id, String(ctx.signal.reason));
        reject(ctx.signal.reason as Error);
      }),
    );
  }
}

describe('graceful shutdown', () => {
  let db: TestDatabase;
  const open = new Set<INestApplicationContext>();

  const start = async (options: Partial<JobQueueModuleOptions>) => {
    const app = await startTestApp(
      { connectionUrl: db.url, pollIntervalMs: 50, retryDelayMs: 10, depthSampleIntervalMs: 0, ...options },
      [Handlers],
    );
    open.add(app);
    return app;
  };
  const close = async (app: INestApplicationContext) => {
    open.delete(app);
    await app.close();
  };

  beforeAll(async () => {
    db = await createTestDatabase();
  });

  afterAll(async () => {
    stubborn.open();
    for (const app of open) await app.close().catch(() => undefined);
    await db?.drop();
  });

  it('lets an in-flight job shorter than shutdownTimeoutMs finish during close()', async () => {
    const app = await start({ shutdownTimeoutMs: 5_000 });
    const { id } = await app.get(JobProducer).enqueue('sd.short', {});
    await waitFor('job started', () => started.has(id));
    expect(finished.has(id)).toBe(false);

    await close(app);
    expect(finished.has(id)).toBe(true);
    expect(await jobRow(db.url, id)).toBeUndefined();
  });

  it('releases jobs still running at the timeout: pending, lock cleared, attempt refunded, runnable now', async () => {
    const app = await start({ shutdownTimeoutMs: 300, instanceId: 'sd-timeout' });
    const producer = app.get(JobProducer);
    const ignoring = await producer.enqueue('sd.ignores-signal', {});
    const honouring = await producer.enqueue('sd.honours-signal', {});
    await waitFor('both jobs started', () => started.has(ignoring.id) && started.has(honouring.id));
    expect(await jobRow(db.url, ignoring.id)).toMatchObject({
      status: 'processing',
      locked_by: 'sd-timeout',
      attempt_count: 1,
    });

    const begun = Date.now();
    await close(app);
    const tookMs = Date.now() - begun;
    // Well under the abort grace (1 s) plus the timeout: shutdown did not wait for the stubborn handler.
    expect(tookMs).toBeLessThan(1_300 + 300);

    for (const id of [ignoring.id, honouring.id]) {
      const [row] = await query<Record<string, unknown>>(
        db.url,
        `SELECT ${RELEASE_STATE_COLUMNS} FROM job_queue.jobs WHERE id = $1`,
        [id],
      );
      expect(row).toEqual(RELEASED_UNTRIED);
    }
    expect(finished.has(ignoring.id)).toBe(false);
    expect(abortReasons.get(honouring.id)).toContain('shutting down');
    await query(db.url, 'DELETE FROM job_queue.jobs');
  });

  it.each([
    ['ignores its signal (released by shutdown)', 'sd.ignores-signal', 'sd-held-ignoring'],
    ['honours its signal (releases its own job)', 'sd.honours-signal', 'sd-held-honouring'],
  ])(
    'at the timeout waits for a row someone holds for a moment, and releases it: a handler that %s',
    async (_, type, instanceId) => {
      const app = await start({ shutdownTimeoutMs: 300, instanceId, recoveryIntervalMs: 60_000 });
      const { id } = await app.get(JobProducer).enqueue(type, {}, { maxAttempts: 1 });
      await waitFor('job started', () => started.has(id));

      // As the heartbeat renewing it, or another instance's claim that met it, would for a moment.
      const lock = await holdRowLock(db.url, id);
      let closed = false;
      const closing = close(app).finally(() => (closed = true));
      try {
        // The release waits for the held row; (before this was fixed, it skipped it and shutdown ended.)
        await waitFor('the release waiting on the held row, or shutdown done without it', async () => {
          return closed || (await releaseWaitsOnLock(db.url, instanceId));
        });
      } finally {
        await lock.end();
      }
      await closing;

      const [row] = await query<Record<string, unknown>>(
        db.url,
        `SELECT ${RELEASE_STATE_COLUMNS} FROM job_queue.jobs WHERE id = $1`,
        [id],
      );
      expect(row).toEqual(RELEASED_UNTRIED);
      await query(db.url, 'DELETE FROM job_queue.jobs');
    },
  );

  it('a claim under way when shutdown begins does not leave its jobs locked', async () => {
    const app = await start({ shutdownTimeoutMs: 5_000, instanceId: 'sd-claim', recoveryIntervalMs: 60_000 });
    // Hold the table so that the next claim blocks, and add a job the blocked claim will find once let go.
    const blocker = new Client({ connectionString: db.url });
    blocker.on('error', () => undefined);
    await blocker.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query('LOCK TABLE job_queue.jobs IN EXCLUSIVE MODE');
      const [{ id }] = (
        await blocker.query(
          `INSERT INTO job_queue.jobs (type, payload, status, max_attempts) VALUES ('sd.short', '{}', 'pending', 3) RETURNING id`,
        )
      ).rows;
      await waitForBlockedClaim(db.url, 'sd-claim');

      const closing = close(app);
      // Shutdown has stopped claiming and listening once the listener's connection is gone.
      await waitFor('listener closed', async () => {
        const rows = await query(
          db.url,
          `SELECT 1 FROM pg_stat_activity WHERE application_name = 'job-queue-listener:sd-claim'`,
        );
        return rows.length === 0;
      });
      await blocker.query('COMMIT');
      await closing;

      // The job the late claim returned was run to completion or handed back; never left locked by a stopped app.
      const row = await jobRow(db.url, id);
      if (row) expect(row).toMatchObject({ status: 'pending', locked_by: null, lock_token: null });
      else expect(finished.has(id)).toBe(true);
    } finally {
      await blocker.end();
    }
  });
});
