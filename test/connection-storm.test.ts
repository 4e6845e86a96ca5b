import { Injectable, type INestApplicationContext } from '@nestjs/common';
import { Client, type Pool, type PoolClient } from 'pg';
import { DataSource } from 'typeorm';
import { JobHandler, JobProducer, type JobContext } from '@app/job-queue';
import { createTestDatabase, type TestDatabase } from './support/test-database';
import { startTestApp } from './support/test-app';
import { countJobs } from './support/queue-probes';
import { waitFor } from './support/wait-for';

/**
 * PostgreSQL terminates the connections of a busy instance (a failover, an operator, a pooler restarting). A client
 * that is checked out must never emit an 'error' with no listener: Node would end the process. The storm goes on
 * until terminations have landed many times on checked-out clients, and many times in the narrowest window: a
 * client just handed out by the pool, whose holder has not run yet (the FATAL error and the connection's first
 * ReadyForQuery arrive in one socket read).
 */

const APP_NAME = 'connection-storm';
const STORM_DEADLINE_MS = 25_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

@Injectable()
class StormHandlers {
  /** A transactional handler: its query runner holds a checked-out client across a pause. */
  @JobHandler('storm.tx', { transactional: true, maxAttempts: 1_000 })
  async tx(_: unknown, ctx: JobContext) {
    await ctx.manager!.query('SELECT 1');
    await sleep(1 + Math.random() * 3);
  }
}

/** Counts, from inside the driver, where each termination (57P01) landed. */
interface Landings {
  checkedOut: number;
  /** On a client handed out in this very synchronous pass: no continuation of its holder has run yet. */
  handingOut: number;
  /** On a checked-out client with no 'error' listener: before the fix, each of these ends the process. */
  unguarded: number;
}

function countLandings(pool: Pool): Landings {
  const landings: Landings = { checkedOut: 0, handingOut: 0, unguarded: 0 };
  const checkedOut = new Set<PoolClient>();
  const handingOut = new Set<PoolClient>();
  const watched = new WeakSet<PoolClient>();
  pool.on('acquire', (client: PoolClient) => {
    checkedOut.add(client);
    handingOut.add(client);
    queueMicrotask(() => handingOut.delete(client));
    if (watched.has(client)) return;
    watched.add(client);
    // Listening on the protocol connection, not on the client: a listener on the client would hide the bug.
    const connection = (client as unknown as { connection: NodeJS.EventEmitter }).connection;
    connection.prependListener('errorMessage', (message: { code?: string }) => {
      if (message.code !== '57P01' || !checkedOut.has(client)) return;
      landings.checkedOut += 1;
      if (handingOut.has(client)) landings.handingOut += 1;
      if (client.listenerCount('error') === 0) landings.unguarded += 1;
    });
  });
  pool.on('release', (_error: Error | undefined, client: PoolClient) => checkedOut.delete(client));
  return landings;
}

describe('connection storm', () => {
  let db: TestDatabase;
  let dataSource: DataSource | undefined;
  let app: INestApplicationContext | undefined;

  beforeAll(async () => {
    db = await createTestDatabase();
  });

  afterAll(async () => {
    await app?.close();
    await dataSource?.destroy();
    await db?.drop();
  });

  it('no terminated connection ever ends the process, checked out or just being handed out', async () => {
    // The app's own DataSource, shared with the queue, as in the sample: its queries and the queue's use one pool.
    dataSource = new DataSource({ type: 'postgres', url: db.url, extra: { max: 12, application_name: APP_NAME } });
    await dataSource.initialize();
    const landings = countLandings((dataSource.driver as unknown as { master: Pool }).master);
    app = await startTestApp(
      { dataSource, concurrency: 6, pollIntervalMs: 50, retryDelayMs: 10, recoveryIntervalMs: 200, leaseMs: 2_000 },
      [StormHandlers],
    );
    await app.init();
    const producer = app.get(JobProducer);
    await producer.enqueueMany(Array.from({ length: 1_500 }, () => ({ type: 'storm.tx', payload: {} })));

    // The app's own work next to the queue's: plain queries and transactions through TypeORM query runners.
    let storming = true;
    const appWork = Array.from({ length: 6 }, async (_, i) => {
      while (storming) {
        const work =
          i % 2 === 0
            ? dataSource!.query('SELECT 1')
            : dataSource!.transaction(async (manager) => {
                await manager.query('SELECT 1');
                await sleep(Math.random() * 3);
              });
        await work.catch(() => undefined);
      }
    });

    const killer = new Client({ connectionString: db.url, application_name: 'connection-storm-killer' });
    await killer.connect();
    let terminated = 0;
    const stormStart = Date.now();
    try {
      // Until the narrow window was hit many times (the freshest connections first: that is where it opens).
      while (landings.handingOut < 20 || landings.checkedOut < 300) {
        if (Date.now() - stormStart > STORM_DEADLINE_MS) break;
        const { rows } = await killer.query<{ n: number }>(
          `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::int AS n FROM (
             (SELECT pid FROM pg_stat_activity WHERE application_name = $1 ORDER BY backend_start DESC LIMIT 2)
             UNION
             (SELECT pid FROM pg_stat_activity WHERE application_name = $1 ORDER BY random() LIMIT 2)) victims`,
          [APP_NAME],
        );
        terminated += rows[0].n;
        await sleep(Math.random() * 4);
      }
    } finally {
      storming = false;
      await killer.end();
      await Promise.all(appWork);
    }
    console.log(
      `connection storm: ${terminated} terminated in ${Date.now() - stormStart} ms, landed ${JSON.stringify(landings)}`,
    );

    expect(landings.unguarded).toBe(0);
    expect(landings.handingOut).toBeGreaterThanOrEqual(20);
    expect(landings.checkedOut).toBeGreaterThanOrEqual(300);
    // The instance is alive and still works: every job completes.
    await waitFor('every job completed', async () => (await countJobs(db.url)) === 0, 60_000, 100);
    expect(await dataSource.query('SELECT 1 AS one')).toEqual([{ one: 1 }]);
  });
});
