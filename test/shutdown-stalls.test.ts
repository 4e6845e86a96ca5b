import { Injectable, type INestApplicationContext } from '@nestjs/common';
import { Client } from 'pg';
import { JobHandler, JobProducer } from '@app/job-queue';
import { JobNotifyListener } from '@app/job-queue/internal';
import { FreezableProxy } from './support/freezable-proxy';
import { QueueChild } from './support/queue-child.process';
import { countJobs, waitForBlockedClaim } from './support/queue-probes';
import { createTestDatabase, type TestDatabase } from './support/test-database';
import { startTestApp } from './support/test-app';
import { query } from './support/sql';
import { waitFor } from './support/wait-for';

const done: string[] = [];

@Injectable()
class Handlers {
  @JobHandler('stall.noop')
  async run(payload: { tag: string }) {
    done.push(payload.tag);
  }
}

/** Ends the claim of `instanceId` that waits on a table lock (its connection dies, so the claim fails). */
async function failBlockedClaim(url: string, instanceId: string): Promise<void> {
  await waitForBlockedClaim(url, instanceId);
  await query(
    url,
    `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`,
    [`job-queue:${instanceId}`],
  );
}

/**
 * Shutdown must not stall, and must leave nothing behind that keeps the process alive: the rescuer's loop stops
 * when shutdown begins, closing a silently dropped LISTEN connection has a deadline, and a claim that fails after
 * the stop arms no retry timer. The LISTEN connection also notices a silently dropped socket while running.
 */
describe('shutdown does not stall', () => {
  let db: TestDatabase;
  let app: INestApplicationContext | undefined;
  let proxy: FreezableProxy | undefined;
  let child: QueueChild | undefined;
  let blocker: Client | undefined;

  beforeAll(async () => {
    db = await createTestDatabase();
  });

  afterEach(async () => {
    child?.kill();
    child = undefined;
    await blocker?.end().catch(() => undefined);
    blocker = undefined;
    await app?.close();
    app = undefined;
    await proxy?.stop();
    proxy = undefined;
    await query(db.url, 'DELETE FROM job_queue.jobs');
  });

  afterAll(async () => {
    await db?.drop();
  });

  it('stops the rescuer between batches when shutdown begins, leaving the rest to the next instance', async () => {
    const total = 3_000;
    await query(
      db.url,
      `INSERT INTO job_queue.jobs (type, payload, status, max_attempts, attempt_count, locked_at, locked_by, lock_token)
       SELECT 'stall.gone', '{}', 'processing', 5, 1, now() - interval '1 hour', 'a-dead-instance', gen_random_uuid()
       FROM generate_series(1, $1)`,
      [total],
    );
    // No handlers: only the rescuer runs, one row per batch, so working through them all takes thousands of batches.
    app = await startTestApp({ connectionUrl: db.url, recoveryBatchSize: 1, recoveryIntervalMs: 100 });
    await app.init();
    await waitFor('the rescuer under way', async () => (await countJobs(db.url, `status = 'pending'`)) > 0, 15_000);
    await app.close();
    app = undefined;
    const left = await countJobs(db.url, `status = 'processing'`);
    // Before, close waited for the whole run: every row rescued, however many.
    expect(left).toBeGreaterThan(total / 2);
  });

  it('closes a silently dropped LISTEN connection within its deadline, and the process exits', async () => {
    proxy = await FreezableProxy.start(db.url);
    child = await QueueChild.start({ connectionUrl: proxy.url, instanceId: 'stall-listen', pollIntervalMs: 200 });
    await waitFor('listening', () => proxy!.connections('job-queue-listener:stall-listen').length === 1, 15_000);
    await waitFor('LISTEN sent', async () => {
      const rows = await query(
        db.url,
        `SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'LISTEN%'`,
        ['job-queue-listener:stall-listen'],
      );
      return rows.length === 1;
    });
    expect(proxy.freeze('job-queue-listener:stall-listen')).toBe(1);

    child.close();
    await waitFor('the app closed', () => child!.saw('closed') || child!.saw('close failed'), 30_000, 50);
    const code = await child.exited;
    expect({ closed: child.line('closed') !== undefined, code }).toEqual({ closed: true, code: 0 });
    // The app dropped its end of the dead connection rather than waiting for an answer that never comes.
    expect(proxy.connections('job-queue-listener:stall-listen')[0].clientClosed).toBe(true);
  });

  it('a claim that fails after the stop arms no retry timer: nothing keeps the process alive', async () => {
    const instanceId = 'stall-claim';
    blocker = new Client({ connectionString: db.url });
    await blocker.connect();
    await blocker.query('BEGIN');
    await blocker.query('LOCK TABLE job_queue.jobs IN ACCESS EXCLUSIVE MODE');
    // Poll only, no sampler, no rescuer run: the claim is the only statement that touches the locked table.
    child = await QueueChild.start({
      connectionUrl: db.url,
      instanceId,
      pollOnly: true,
      pollIntervalMs: 600_000,
      depthSampleIntervalMs: 0,
      recoveryIntervalMs: 600_000,
    });
    // A streak of failed claims, as in an outage: each one doubles the loop's retry delay (200 ms … 3.2 s).
    for (let i = 0; i < 4; i++) await failBlockedClaim(db.url, instanceId);
    await waitForBlockedClaim(db.url, instanceId);
    child.close();
    await waitFor('the app closing', () => child!.saw('closing'), 15_000);
    await failBlockedClaim(db.url, instanceId);
    await blocker.query('COMMIT');

    await waitFor('the app closed', () => child!.saw('closed') || child!.saw('close failed'), 30_000, 50);
    const resources = JSON.parse(child.line('closed')!.slice('closed '.length)) as string[];
    expect(resources.filter((r) => r === 'Timeout')).toEqual([]);
    expect(await child.exited).toBe(0);
  });

  it('notices a LISTEN connection dropped without a word, and listens again', async () => {
    proxy = await FreezableProxy.start(db.url);
    const instanceId = 'stall-check';
    // Only a notification can wake the worker in time: the poll interval is far longer than the test.
    app = await startTestApp(
      { connectionUrl: proxy.url, instanceId, pollIntervalMs: 600_000, listenerCheckIntervalMs: 200 },
      [Handlers],
    );
    await app.init();
    const listener = app.get(JobNotifyListener);
    await waitFor('listening', () => listener.connected, 15_000);
    expect(proxy.freeze(`job-queue-listener:${instanceId}`)).toBe(1);

    await waitFor(
      'a new LISTEN connection',
      () => proxy!.connections(`job-queue-listener:${instanceId}`).length === 2,
      15_000,
    );
    await waitFor('listening again', () => listener.connected, 15_000);
    expect(proxy.connections(`job-queue-listener:${instanceId}`)[0].clientClosed).toBe(true);
    await app.get(JobProducer).enqueue('stall.noop', { tag: 'after-drop' });
    await waitFor('the job run (woken by NOTIFY)', () => done.includes('after-drop'), 15_000);
  });
});
