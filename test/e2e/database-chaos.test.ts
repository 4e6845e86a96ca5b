import { Client } from 'pg';
import { query } from '../support/sql';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { waitFor } from '../support/wait-for';
import { expectEveryRecordRanOnce, queueOutcome, report, totals } from './support/queue-outcome';
import { PrivatePostgres } from './support/private-postgres';
import { enqueueBatch, SampleFleet, withFleetOutput, type SampleProcess } from './support/sample-process';

/**
 * The database misbehaves under running instances of the sample app: its connections are killed, its connection
 * slots run out, the server restarts. The instances stay up, recover by themselves, and every job still runs once.
 */

const records = (n: number, delayMs = 0) =>
  Array.from({ length: n }, () => ({ type: 'demo.record', payload: { delayMs } }));
const noops = (n: number) => Array.from({ length: n }, () => ({ type: 'demo.noop' }));

/** The app role's password: a server with password authentication (the embedded one) needs it; trust ignores it. */
const APP_ROLE_PASSWORD = 'job-queue-test';

async function effectCount(url: string): Promise<number> {
  const [row] = await query<{ n: number }>(url, 'SELECT count(*)::int AS n FROM sample.effects');
  return row.n;
}

/** Inserts jobs straight into the table (as a producer in another service would), returning their ids in order. */
async function insertJobs(
  url: string,
  jobs: Array<{ type: string; payload?: unknown }>,
): Promise<Array<{ id: string; type: string }>> {
  return query<{ id: string; type: string }>(
    url,
    `INSERT INTO job_queue.jobs (type, payload, status, max_attempts)
     SELECT t, p, 'pending', 5 FROM unnest($1::text[], $2::jsonb[]) WITH ORDINALITY AS j(t, p, n) ORDER BY n
     RETURNING id, type`,
    [jobs.map((j) => j.type), jobs.map((j) => JSON.stringify(j.payload ?? {}))],
  );
}

/** GET /health once: its status, or 0 when it did not answer in time. */
async function healthStatus(proc: SampleProcess, timeoutMs = 3_000): Promise<number> {
  try {
    return (await proc.request('GET', '/health', undefined, timeoutMs)).status;
  } catch {
    return 0;
  }
}

/** After a database fault: every instance answers /health 200 and its LISTEN connection is back (not left polling). */
async function healthyAndListening(procs: SampleProcess[]): Promise<void> {
  await Promise.all(
    procs.map((p) => waitFor(`${p.id} healthy`, async () => (await healthStatus(p)) === 200, 15_000, 200)),
  );
  await Promise.all(
    procs.map((p) =>
      waitFor(
        `${p.id} listening again`,
        async () => (await p.metric('job_queue_listener_connected')) === 1,
        15_000,
        200,
      ),
    ),
  );
}

/** Polls /health on `proc` every 200 ms until stopped; returns every status seen. */
function watchHealth(proc: SampleProcess): { stop(): Promise<number[]> } {
  const seen: number[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      seen.push(await healthStatus(proc, 2_000));
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return seen;
    },
  };
}

describe('e2e: database chaos', () => {
  let db: TestDatabase;
  let fleet: SampleFleet | undefined;
  const held: Client[] = [];
  const roles: string[] = [];
  const watchers: Array<{ stop(): Promise<unknown> }> = [];

  beforeEach(async () => {
    db = await createTestDatabase({ migrate: false });
    fleet = new SampleFleet(db.url);
  });

  afterEach(async () => {
    await Promise.all(watchers.splice(0).map((w) => w.stop()));
    await Promise.all(held.splice(0).map((c) => c.end().catch(() => undefined)));
    await fleet?.stopAll();
    fleet = undefined;
    await db?.drop();
    const server = (process.env.JOB_QUEUE_TEST_SERVER_URL ?? process.env.DATABASE_URL)!;
    for (const role of roles.splice(0)) await query(server, `DROP ROLE IF EXISTS "${role}"`);
  });

  it(
    'connection storm: backends terminated twice a second for 5 s; instances stay up and every job runs once',
    withFleetOutput(
      () => fleet,
      async () => {
        const procs = await fleet!.startMany(['storm-a', 'storm-b'], { JOB_QUEUE_MAX_ATTEMPTS: 5 });
        const startedAt = Date.now();
        // Enough work to outlast the storm.
        const recordIds = await enqueueBatch(procs[0], records(3_000, 30));
        await waitFor('some records done', async () => (await effectCount(db.url)) >= 100, 20_000, 20);

        const killer = new Client({ connectionString: db.url, application_name: 'e2e-connection-storm' });
        await killer.connect();
        let terminated = 0;
        const stormStart = Date.now();
        try {
          while (Date.now() - stormStart < 5_000) {
            const tick = Date.now();
            const { rows } = await killer.query(
              `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()`,
            );
            terminated += rows[0].n;
            await new Promise((r) => setTimeout(r, Math.max(0, tick + 500 - Date.now()))); // the chaos pace
          }
        } finally {
          await killer.end();
        }
        const stormEnd = Date.now();
        const effectsAtStormEnd = await effectCount(db.url);

        await waitFor('queue drained', async () => (await totals(db.url)).live === 0, 60_000, 100);
        const drainMs = Date.now() - stormEnd;
        // The LISTEN connection was killed too: each instance is healthy and listening again, not left polling.
        await healthyAndListening(procs);
        const outcome = await queueOutcome(db.url, recordIds);
        const all = await totals(db.url);
        report('connection-storm', {
          enqueued: recordIds.length,
          terminated,
          effectsAtStormEnd,
          drainAfterStormMs: drainMs,
          lost: outcome.lost,
          duplicated: outcome.duplicated,
          dead: outcome.dead,
          deadReasons: outcome.deadReasons,
          totalMs: Date.now() - startedAt,
        });
        expect(terminated).toBeGreaterThan(10);
        expect(procs.every((p) => p.alive)).toBe(true);
        expectEveryRecordRanOnce(outcome, all, recordIds.length);
      },
    ),
    90_000,
  );

  it(
    'a backend terminated under the recovery cron mid-transaction does not crash the instance',
    withFleetOutput(
      () => fleet,
      async () => {
        const proc = await fleet!.start('rescuer-a');
        // Park the recovery cron inside its transaction: a table lock makes its find-expired statement wait.
        const locker = new Client({ connectionString: db.url, application_name: 'e2e-table-lock' });
        await locker.connect();
        try {
          await locker.query('BEGIN');
          await locker.query('LOCK TABLE job_queue.jobs IN ACCESS EXCLUSIVE MODE');
          const [{ pid }] = await waitFor(
            'the recovery cron waiting on the lock',
            () =>
              query<{ pid: number }>(
                db.url,
                `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'
               AND query LIKE '%locked_at < now() -%'`,
              ).then((rows) => (rows.length > 0 ? rows : null)),
            10_000,
            50,
          );
          await query(db.url, 'SELECT pg_terminate_backend($1)', [pid]);
        } finally {
          await locker.query('ROLLBACK').catch(() => undefined);
          await locker.end();
        }
        // Alive, and still doing its job: a job enqueued now runs.
        const [id] = await enqueueBatch(proc, [{ type: 'demo.record' }]);
        await waitFor(
          'the job done',
          async () => (await query(db.url, 'SELECT 1 FROM sample.effects WHERE job_id = $1', [id])).length === 1,
          10_000,
        );
        await waitFor('a later recovery run', async () => proc.grep(/rescuer failed/).length > 0, 5_000, 50);
        expect(proc.alive).toBe(true);
        expect(await healthStatus(proc)).toBe(200);
      },
    ),
    30_000,
  );

  it(
    'pool pressure: connection slots held until a few are left; the app degrades without crashing and drains after',
    withFleetOutput(
      () => fleet,
      async () => {
        const admin = (sql: string) => query<any>(db.url, sql);
        const [{ max_connections }] = await admin('SHOW max_connections');
        const [{ superuser_reserved_connections }] = await admin('SHOW superuser_reserved_connections');
        const [{ used }] = await admin(
          'SELECT count(*)::int AS used FROM pg_stat_activity WHERE backend_type = $$client backend$$',
        );
        // Never squeeze the shared server: leave at least 20 slots to everyone else, and take at most 40.
        const serverFree = Number(max_connections) - Number(superuser_reserved_connections) - used;
        const budget = Math.min(40, serverFree - 20);
        if (budget < 20) {
          process.stdout.write(
            `e2e pool-pressure: not enough free connections on the server (${serverFree} free); not run\n`,
          );
          return;
        }
        // The squeeze is confined to the test database: its connection limit is the budget, and the app connects as
        // a role of its own (superusers are exempt from that limit). Running out of it gives the app the same error a
        // full server would (53300 too_many_connections) while other databases on the server keep their slots.
        const role = `${db.name}_app`;
        roles.push(role);
        await admin(`CREATE ROLE "${role}" LOGIN PASSWORD '${APP_ROLE_PASSWORD}'`);
        await admin(`ALTER DATABASE "${db.name}" OWNER TO "${role}"`);
        await admin(`ALTER DATABASE "${db.name}" CONNECTION LIMIT ${budget}`);
        const appUrl = new URL(db.url);
        appUrl.username = role;
        appUrl.password = APP_ROLE_PASSWORD;

        const procs = await fleet!.startMany(['press-a', 'press-b'], {
          JOB_QUEUE_MAX_ATTEMPTS: 5,
          JOB_QUEUE_RETRY_DELAY_MS: 50,
          DATABASE_URL: appUrl.toString(),
        });
        const countInDb = async () =>
          (await admin('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database()'))[0]
            .n as number;
        const appConnectionsBefore = (await countInDb()) - 1;
        const leave = 3;
        for (let inUse = await countInDb(); inUse < budget - leave; inUse++) {
          const client = new Client({ connectionString: db.url, application_name: 'e2e-pool-pressure' });
          client.on('error', () => undefined);
          await client.connect();
          held.push(client);
        }
        const inUseUnderPressure = await countInDb();
        const heldCount = held.length;

        const health = watchHealth(procs[1]);
        watchers.push(health);
        // Enqueued over HTTP while the slots are held: the producer's answer under pressure is part of the test.
        const enqueue = await procs[0].request(
          'POST',
          '/jobs/batch',
          { jobs: [...records(400, 50), ...noops(400)] },
          15_000,
        );
        expect([201, 503]).toContain(enqueue.status);
        const jobs =
          enqueue.status === 201
            ? (enqueue.body.ids as string[]).map((id, i) => ({ id, type: i < 400 ? 'demo.record' : 'demo.noop' }))
            : await insertJobs(db.url, [...records(400, 50), ...noops(400)]);
        const recordIds = jobs.filter((j) => j.type === 'demo.record').map((j) => j.id);
        const noopIds = jobs.filter((j) => j.type === 'demo.noop').map((j) => j.id);
        const pressureStart = Date.now();
        // Hold the slots for 6 s while the instances try to work.
        await new Promise((r) => setTimeout(r, 6_000));
        const effectsUnderPressure = await effectCount(db.url);
        const releasedAt = Date.now();
        await Promise.all(held.splice(0).map((c) => c.end()));

        await waitFor('queue drained', async () => (await totals(db.url)).live === 0, 45_000, 100);
        const drainMs = Date.now() - releasedAt;
        const seen = await health.stop();
        await Promise.all(
          procs.map((p) => waitFor(`${p.id} healthy`, async () => (await healthStatus(p)) === 200, 15_000, 200)),
        );
        const outcome = await queueOutcome(db.url, recordIds, noopIds);
        const all = await totals(db.url);
        // A job whose transaction could not even start (no connection) never reached its handler: no attempt is spent.
        const retried = await Promise.all(
          procs.map((p) => p.metric('job_queue_jobs_retried_total', { type: 'demo.record' })),
        );
        const [{ max_attempt }] = await admin('SELECT max(attempt)::int AS max_attempt FROM sample.effects');
        const tooMany = procs.flatMap((p) => p.grep(/too many/i));
        report('pool-pressure', {
          serverMax: max_connections,
          serverFree,
          dbLimit: budget,
          appConnectionsBefore,
          held: heldCount,
          inUseUnderPressure,
          enqueued: recordIds.length + noopIds.length,
          enqueueStatus: enqueue.status,
          effectsUnderPressure,
          pressureMs: releasedAt - pressureStart,
          drainAfterReleaseMs: drainMs,
          healthStatuses: [...new Set(seen)],
          tooManyLogLines: tooMany.length,
          recordRetries: retried,
          maxAttemptOfEffects: max_attempt,
          lost: outcome.lost,
          duplicated: outcome.duplicated,
          dead: outcome.dead,
          deadReasons: outcome.deadReasons,
        });
        expect(tooMany.length).toBeGreaterThan(0); // the pressure was real
        expect(procs.every((p) => p.alive)).toBe(true);
        expect(retried).toEqual(procs.map(() => 0));
        expectEveryRecordRanOnce(outcome, all, recordIds.length);
      },
    ),
    90_000,
  );

  it(
    'no connection to be had at all: requests answer 503 with the reason, nothing crashes, and it recovers',
    withFleetOutput(
      () => fleet,
      async () => {
        // The app connects as a role of its own whose connection limit drops to 0, then loses its sessions: every
        // new connection is refused (53300) while the test, a superuser, still reads and writes.
        const role = `${db.name}_app`;
        roles.push(role);
        await query(db.url, `CREATE ROLE "${role}" LOGIN PASSWORD '${APP_ROLE_PASSWORD}'`);
        await query(db.url, `ALTER DATABASE "${db.name}" OWNER TO "${role}"`);
        const appUrl = new URL(db.url);
        appUrl.username = role;
        appUrl.password = APP_ROLE_PASSWORD;
        const proc = await fleet!.start('refused-a', { DATABASE_URL: appUrl.toString() });
        const [before] = await enqueueBatch(proc, [{ type: 'demo.record' }]);
        await waitFor(
          'a job done before',
          async () => (await query(db.url, 'SELECT 1 FROM sample.effects WHERE job_id = $1', [before])).length === 1,
        );

        await query(db.url, `ALTER ROLE "${role}" CONNECTION LIMIT 0`);
        await query(db.url, 'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1', [role]);
        // The first request may still meet a pooled connection whose end the app has not read yet ("terminating
        // connection due to administrator command"): a 503 too, with its own reason. Every request answers 503
        // until one needs a new connection and is refused for the limit.
        const enqueues: Array<{ status: number; message: unknown }> = [];
        await waitFor(
          'an enqueue refused for the connection limit',
          async () => {
            const res = await proc.request('POST', '/jobs', { type: 'demo.record' });
            enqueues.push({ status: res.status, message: res.body?.message });
            return res.status === 503 && /too many connections/.test(String(res.body?.message));
          },
          15_000,
          50,
        );
        const health = await healthStatus(proc);
        const stats = await proc.request('GET', '/queue/stats');
        report('refused', { enqueues, health, statsStatus: stats.status });
        expect(enqueues.map((e) => e.status)).toEqual(enqueues.map(() => 503)); // retryable, never an opaque 500
        expect(stats.status).toBe(503);
        expect(health).toBe(503);

        await query(db.url, `ALTER ROLE "${role}" CONNECTION LIMIT -1`);
        const restoredAt = Date.now();
        const [after] = await waitFor(
          'enqueue accepted again',
          async () => {
            const res = await proc.request('POST', '/jobs', { type: 'demo.record' });
            return res.status === 201 ? [res.body.id as string] : null;
          },
          15_000,
          200,
        );
        await waitFor(
          'the job done after',
          async () => (await query(db.url, 'SELECT 1 FROM sample.effects WHERE job_id = $1', [after])).length === 1,
          15_000,
        );
        const jobDoneMs = Date.now() - restoredAt;
        await waitFor('healthy again', async () => (await healthStatus(proc)) === 200, 15_000, 200);
        report('refused-recovery', {
          jobDoneAfterRestoreMs: jobDoneMs,
          healthyAfterRestoreMs: Date.now() - restoredAt,
        });
        expect(proc.alive).toBe(true);
      },
    ),
    60_000,
  );

  it('database restart mid-run: instances reconnect and drain; /health reports the outage while it lasts', async () => {
    // A server of this test's own: stopping the machine's shared server would cut every other test off it.
    const server = await PrivatePostgres.start();
    const restartFleet = new SampleFleet(server.url);
    try {
      await withFleetOutput(
        () => restartFleet,
        async () => {
          const procs = await restartFleet.startMany(['restart-a', 'restart-b'], { JOB_QUEUE_MAX_ATTEMPTS: 5 });
          const startedAt = Date.now();
          const recordIds = await enqueueBatch(procs[0], records(1_500, 5));
          await waitFor('some records done', async () => (await effectCount(server.url)) >= 200, 20_000, 20);

          const health = watchHealth(procs[1]);
          watchers.push(health);
          let downAt = 0;
          let upAt: number;
          try {
            await server.stop();
            downAt = Date.now();
            // /health must say so while the database is away.
            await waitFor(
              '/health 503 during the outage',
              async () => (await healthStatus(procs[1], 2_000)) === 503,
              5_000,
              100,
            );
            await new Promise((r) => setTimeout(r, Math.max(0, downAt + 3_000 - Date.now()))); // a 3 s outage
          } finally {
            await server.start();
            upAt = Date.now();
          }
          await waitFor('queue drained', async () => (await totals(server.url)).live === 0, 60_000, 100);
          const drainMs = Date.now() - upAt;
          const seen = await health.stop();
          await healthyAndListening(procs);
          const outcome = await queueOutcome(server.url, recordIds);
          const all = await totals(server.url);
          report('pg-restart', {
            enqueued: recordIds.length,
            outageMs: upAt - downAt,
            drainAfterRestartMs: drainMs,
            healthStatuses: [...new Set(seen)],
            lost: outcome.lost,
            duplicated: outcome.duplicated,
            dead: outcome.dead,
            deadReasons: outcome.deadReasons,
            totalMs: Date.now() - startedAt,
          });
          expect(seen).toContain(503);
          expect(procs.every((p) => p.alive)).toBe(true);
          expectEveryRecordRanOnce(outcome, all, recordIds.length);
        },
      )();
    } finally {
      await restartFleet.stopAll();
      await server.destroy();
    }
  }, 120_000);
});
