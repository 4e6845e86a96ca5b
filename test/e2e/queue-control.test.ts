import { dbNow } from '../support/queue-probes';
import { query } from '../support/sql';
import { waitFor } from '../support/wait-for';
import { enqueueBatch, FAST_RECOVERY_ENV, withFleetOutput, type SampleEnv } from './support/sample-process';
import { fleetPerTest } from './support/fleet-per-test';

/**
 * Pause, resume and cancel across real sample-app processes sharing one database. Every time compared is the
 * database's: when a job started is its claim (`updated_at` of a processing row, `started_at` once kept by
 * retention), and a pause is acknowledged when the HTTP call has answered (read as clock_timestamp() just after).
 */

const ENV: SampleEnv = {
  ...FAST_RECOVERY_ENV,
  JOB_QUEUE_CONCURRENCY: 4,
  JOB_QUEUE_POLL_INTERVAL_MS: 1000,
  JOB_QUEUE_RETENTION_MS: 600_000,
  JOB_QUEUE_QUEUES: 'default,other',
};
const INSTANCES = ['a', 'b', 'c'];

const sleeps = (n: number, ms: number, queue = 'default') =>
  Array.from({ length: n }, () => ({ type: 'demo.sleep', payload: { ms }, queue }));

/** Starts of jobs of `queue` at or after `since` (database clock), running or finished. */
async function startsSince(url: string, queue: string, since: Date): Promise<Array<{ id: string; started: Date }>> {
  return query(
    url,
    `SELECT id, updated_at AS started FROM job_queue.jobs WHERE queue = $1 AND status = 'processing' AND updated_at >= $2
     UNION ALL
     SELECT id, started_at FROM job_queue.finished_jobs WHERE queue = $1 AND started_at >= $2`,
    [queue, since],
  );
}

async function finishedCount(url: string, queue: string): Promise<number> {
  const [row] = await query<{ n: number }>(
    url,
    `SELECT count(*)::int AS n FROM job_queue.finished_jobs WHERE queue = $1 AND status = 'completed'`,
    [queue],
  );
  return row.n;
}

async function countOf(url: string, queue: string, status: string): Promise<number> {
  const [row] = await query<{ n: number }>(
    url,
    'SELECT count(*)::int AS n FROM job_queue.jobs WHERE queue = $1 AND status = $2',
    [queue, status],
  );
  return row.n;
}

describe('e2e: pause, resume and cancel across processes', () => {
  const run = fleetPerTest();

  it(
    'a paused queue starts no job after the pause is acknowledged, on any instance and across a restart; other queues run on; resume restarts it at once',
    withFleetOutput(
      () => run.fleet,
      async () => {
        const fleet = run.fleet!;
        const url = run.db.url;
        await fleet.startMany(INSTANCES, ENV);
        const api = fleet.any();
        await enqueueBatch(api, sleeps(1500, 40));
        await enqueueBatch(api, sleeps(300, 40, 'other'));
        await waitFor('default busy on all instances', async () => {
          const rows = await query(url, `SELECT DISTINCT locked_by FROM job_queue.jobs WHERE status = 'processing'`);
          return rows.length === INSTANCES.length && (await finishedCount(url, 'default')) >= 50;
        });

        const paused = await api.request('POST', '/queues/default/pause');
        const acknowledged = await dbNow(url);
        expect(paused).toMatchObject({ status: 200, body: { queue: 'default', paused: true } });

        // Jobs already running finish; the other queue keeps completing jobs meanwhile (100 more of them, enqueued
        // now: how many of its first batch are left by the time of the pause depends on the machine's speed).
        const otherBefore = await finishedCount(url, 'other');
        await enqueueBatch(api, sleeps(100, 40, 'other'));
        await waitFor('running default jobs finished', async () => (await countOf(url, 'default', 'processing')) === 0);
        await waitFor('the other queue runs on', async () => (await finishedCount(url, 'other')) >= otherBefore + 100);
        // Producers may still enqueue into a paused queue.
        expect((await api.request('POST', '/jobs', { type: 'demo.noop', queue: 'default' })).status).toBe(201);
        const queues = await api.request<Array<Record<string, unknown>>>('GET', '/queues');
        expect(queues.body.find((q) => q.queue === 'default')).toMatchObject({ paused: true, processing: 0 });
        expect((queues.body.find((q) => q.queue === 'default')!.pending as number) > 0).toBe(true);

        // Every instance restarts: the pause is in the database, not in their memory.
        await Promise.all(fleet.alive().map((p) => p.kill()));
        await fleet.startMany(INSTANCES, ENV);
        await enqueueBatch(fleet.any(), sleeps(100, 10, 'other'));
        await waitFor(
          'the other queue drained after the restart',
          async () => (await countOf(url, 'other', 'pending')) === 0,
        );
        expect(await startsSince(url, 'default', acknowledged)).toEqual([]);
        const pendingWhilePaused = await countOf(url, 'default', 'pending');
        expect(pendingWhilePaused).toBeGreaterThan(0);

        const resumed = await fleet.any().request('POST', '/queues/default/resume');
        expect(resumed).toMatchObject({ status: 200, body: { queue: 'default', paused: false } });
        const [{ resumed_at: resumedAt }] = await query<{ resumed_at: Date }>(
          url,
          `SELECT updated_at AS resumed_at FROM job_queue.queues WHERE name = 'default'`,
        );
        const starts = await waitFor('default runs again', async () => {
          const rows = await startsSince(url, 'default', resumedAt);
          return rows.length > 0 ? rows : null;
        });
        const latencyMs = Math.min(...starts.map((s) => s.started.getTime())) - resumedAt.getTime();
        process.stdout.write(`resume → first start of the paused queue: ${latencyMs} ms (database clock)\n`);
        // 100 ms is the target (NOTIFY on commit); the poll interval is 1 s, so under 1 s means the wake-up did it.
        expect(latencyMs).toBeLessThan(1_000);
      },
    ),
  );

  it(
    'cancels over HTTP: a pending and a running job of each kind end as cancelled, never completed nor dead, no effect row',
    withFleetOutput(
      () => run.fleet,
      async () => {
        const fleet = run.fleet!;
        const url = run.db.url;
        await fleet.startMany(INSTANCES, ENV);
        const api = fleet.any();
        const post = async (body: unknown) => (await api.request<{ id: string }>('POST', '/jobs', body)).body.id;
        const pending = await post({ type: 'demo.sleep', payload: { ms: 10 }, delayMs: 600_000 });
        const sleeping = await post({ type: 'demo.sleep', payload: { ms: 600_000 } });
        const recording = await post({ type: 'demo.record', payload: { delayMs: 600_000 } });
        await waitFor('both running', async () => {
          const rows = await query(url, `SELECT id FROM job_queue.jobs WHERE id = ANY($1) AND status = 'processing'`, [
            [sleeping, recording],
          ]);
          return rows.length === 2;
        });
        await waitFor('the record job wrote its effect in its open transaction', async () => {
          const rows = await query(
            url,
            `SELECT 1 FROM pg_stat_activity WHERE state = 'idle in transaction' AND datname = current_database()`,
          );
          return rows.length > 0;
        });

        for (const id of [pending, sleeping, recording]) {
          const res = await api.request('POST', `/jobs/${id}/cancel`);
          expect({ id, status: res.status, body: res.body }).toEqual({
            id,
            status: 200,
            body: { id, status: 'cancelled' },
          });
        }
        expect((await api.request('POST', `/jobs/${pending}/cancel`)).status).toBe(409);
        expect((await api.request('POST', '/jobs/00000000-0000-4000-8000-000000000000/cancel')).status).toBe(404);
        const done = await post({ type: 'demo.noop' });
        await waitFor(
          'noop completed',
          async () => (await api.request('GET', `/jobs/${done}`)).body.status === 'completed',
        );
        expect((await api.request('POST', `/jobs/${done}/cancel`)).status).toBe(409);

        await waitFor('no job in flight anywhere', async () => {
          const stats = await Promise.all(fleet.alive().map((p) => p.request('GET', '/queue/stats')));
          return stats.every((s) => s.body.inFlight === 0);
        });
        for (const id of [pending, sleeping, recording]) {
          const job = await api.request('GET', `/jobs/${id}`);
          expect({ id, status: job.status, state: job.body.status }).toEqual({ id, status: 200, state: 'cancelled' });
          expect(job.body.run_at).toBeDefined();
        }
        expect(await query(url, 'SELECT * FROM sample.effects WHERE job_id = $1', [recording])).toEqual([]);
        expect(await query(url, 'SELECT id FROM job_queue.dead_jobs')).toEqual([]);
        let cancelled = 0;
        for (const p of fleet.alive()) cancelled += await p.metric('job_queue_jobs_cancelled_total');
        expect(cancelled).toBe(3);
        let dead = 0;
        for (const p of fleet.alive()) dead += await p.metric('job_queue_jobs_dead_total');
        expect(dead).toBe(0);
      },
    ),
  );
});
