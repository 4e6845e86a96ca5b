import { Client } from 'pg';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { waitFor } from '../support/wait-for';
import { queueOutcome, report, totals } from './support/queue-outcome';
import { enqueueBatch, SampleFleet, withFleetOutput } from './support/sample-process';

/**
 * Two busy sample instances while PostgreSQL terminates their connections at the worst moments: connections that
 * are checked out (running a statement, or inside a transactional handler's transaction) and connections that
 * have just been opened (the pool is handing them out). The storm goes on until terminations have landed there
 * many times. No instance may die: an 'error' emitted by a pg client with no listener ends a Node process.
 */

const STORM_DEADLINE_MS = 30_000;
const records = (n: number, delayMs: number) =>
  Array.from({ length: n }, () => ({ type: 'demo.record', payload: { delayMs } }));

describe('e2e: connection storm at the worst moments', () => {
  let db: TestDatabase;
  let fleet: SampleFleet | undefined;

  beforeEach(async () => {
    db = await createTestDatabase({ migrate: false });
    fleet = new SampleFleet(db.url);
  });

  afterEach(async () => {
    await fleet?.stopAll();
    fleet = undefined;
    await db?.drop();
  });

  it(
    'no instance dies when checked-out and freshly opened connections are terminated, and every job runs once',
    withFleetOutput(
      () => fleet,
      async () => {
        const procs = await fleet!.startMany(['worst-a', 'worst-b'], {
          JOB_QUEUE_MAX_ATTEMPTS: 50,
          JOB_QUEUE_RETRY_DELAY_MS: 50,
        });
        const recordIds = await enqueueBatch(procs[0], records(1_200, 5));

        const killer = new Client({ connectionString: db.url, application_name: 'e2e-worst-moments' });
        await killer.connect();
        const landed = { checkedOut: 0, justOpened: 0, total: 0 };
        const stormStart = Date.now();
        try {
          while ((landed.checkedOut < 100 || landed.justOpened < 100) && Date.now() - stormStart < STORM_DEADLINE_MS) {
            // A connection in a statement or a transaction is checked out; one opened within the last 50 ms is being
            // handed out (or was just). Both kinds are chosen first, the freshest before the rest.
            const { rows } = await killer.query<{ checked_out: boolean; just_opened: boolean }>(
              `SELECT state IS DISTINCT FROM 'idle' AS checked_out,
                    backend_start > clock_timestamp() - interval '50 ms' AS just_opened
             FROM (SELECT pid, state, backend_start FROM pg_stat_activity
                   WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'
                   ORDER BY ((state IS DISTINCT FROM 'idle') OR backend_start > clock_timestamp() - interval '50 ms') DESC,
                            backend_start DESC
                   LIMIT 3) victims
             WHERE pg_terminate_backend(pid)`,
            );
            for (const row of rows) {
              landed.total += 1;
              if (row.checked_out) landed.checkedOut += 1;
              if (row.just_opened) landed.justOpened += 1;
            }
            if (!procs.every((p) => p.alive)) break;
            await new Promise((r) => setTimeout(r, 5));
          }
        } finally {
          await killer.end();
        }
        const stormMs = Date.now() - stormStart;
        const alive = procs.map((p) => p.alive);
        expect(alive).toEqual([true, true]);

        await waitFor('queue drained', async () => (await totals(db.url)).live === 0, 90_000, 200);
        const outcome = await queueOutcome(db.url, recordIds);
        report('connection-storm-worst-moments', {
          ...landed,
          stormMs,
          alive,
          lost: outcome.lost,
          duplicated: outcome.duplicated,
          dead: outcome.dead,
        });
        expect(landed.checkedOut).toBeGreaterThanOrEqual(100);
        expect(landed.justOpened).toBeGreaterThanOrEqual(100);
        expect(outcome).toMatchObject({ live: 0, dead: 0, lost: 0, duplicated: 0, withEffect: recordIds.length });
      },
    ),
    180_000,
  );
});
