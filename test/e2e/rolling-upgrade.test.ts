import { DataSource } from 'typeorm';
import { runJobQueueMigrations } from '@app/job-queue';
import { JOB_QUEUE_MIGRATION_CHAIN, migrationName } from '@app/job-queue/internal';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { query } from '../support/sql';
import { waitFor } from '../support/wait-for';
import { ensureLegacySampleBuilt } from './support/legacy-sample-build';
import { queueOutcome, report, totals } from './support/queue-outcome';
import {
  enqueueBatch,
  FAST_RECOVERY_ENV,
  SampleFleet,
  withFleetOutput,
  type SampleProcess,
} from './support/sample-process';

/** The last release before the numbered migration chain: its schema is version 1, recorded without a version table. */
const PREVIOUS_RELEASE = 'ad2ab17';

const names = JOB_QUEUE_MIGRATION_CHAIN.map((step) => migrationName(step, 'job_queue'));

async function counts(url: string): Promise<{ pending: number; processing: number; dead: number }> {
  const [row] = await query<{ pending: number; processing: number; dead: number }>(
    url,
    `SELECT count(*) FILTER (WHERE status = 'pending')::int AS pending,
            count(*) FILTER (WHERE status = 'processing')::int AS processing,
            (SELECT count(*)::int FROM job_queue.dead_jobs) AS dead
     FROM job_queue.jobs`,
  );
  return row;
}

const records = (n: number, payload: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) =>
  Array.from({ length: n }, () => ({ type: 'demo.record', payload, ...extra }));

async function drained(url: string): Promise<void> {
  await waitFor(
    'every live job finished',
    async () => (await counts(url)).pending + (await counts(url)).processing === 0,
    90_000,
    200,
  );
}

describe('rolling upgrade from the previous release', () => {
  let db: TestDatabase;
  let fleet: SampleFleet | undefined;
  let dataSource: DataSource | undefined;

  beforeEach(async () => {
    db = await createTestDatabase({ migrate: false });
    fleet = new SampleFleet(db.url, { ...FAST_RECOVERY_ENV, JOB_QUEUE_CONCURRENCY: 4 });
  });

  afterEach(async () => {
    await fleet?.stopAll();
    await dataSource?.destroy();
    await db?.drop();
  });

  it(
    'migrates a database holding pending, processing and dead jobs while an old worker runs, and loses nothing',
    withFleetOutput(
      () => fleet,
      async () => {
        const legacy = ensureLegacySampleBuilt(PREVIOUS_RELEASE);
        // The previous release creates its schema (version 1) itself, as it did in production.
        const old: SampleProcess = await fleet!.start('old-1', {}, legacy);
        expect(await query(db.url, 'SELECT name FROM migrations WHERE name LIKE $1', ['%JobQueue%'])).toEqual([
          { name: names[0] },
        ]);
        expect(await query(db.url, `SELECT to_regclass('job_queue.schema_versions') AS t`)).toEqual([{ t: null }]);

        // Live jobs of every kind: dead ones, four sleeping through the migration (every slot of the old worker), and
        // a backlog behind them, some of it delayed past the migration.
        const failed = await enqueueBatch(
          old,
          Array.from({ length: 5 }, () => ({ type: 'demo.fail', payload: {}, maxAttempts: 1 })),
        );
        await waitFor('dead jobs', async () => (await counts(db.url)).dead === 5, 30_000);
        const sleeping = await enqueueBatch(
          old,
          Array.from({ length: 4 }, () => ({ type: 'demo.sleep', payload: { ms: 10_000 } })),
        );
        await waitFor('all slots busy', async () => (await counts(db.url)).processing === 4, 30_000);
        const backlog = [
          ...(await enqueueBatch(old, records(200))),
          ...(await enqueueBatch(old, records(50, {}, { delayMs: 12_000 }))),
        ];
        const atUpgrade = await counts(db.url);
        expect(atUpgrade).toEqual({ pending: 250, processing: 4, dead: 5 });

        // The upgrade: the latest migrations, run while the old worker holds jobs and keeps polling.
        dataSource = await new DataSource({ type: 'postgres', url: db.url, extra: { max: 2 } }).initialize();
        const started = Date.now();
        expect(await runJobQueueMigrations(dataSource, 'job_queue')).toEqual(names.slice(1));
        const migrationMs = Date.now() - started;
        expect(old.alive).toBe(true);
        // The sleeping jobs were held by the old worker throughout.
        expect((await counts(db.url)).processing).toBe(4);

        // The old worker finishes what it held and what waited, and keeps enqueueing and running on the new schema.
        const afterUpgrade = await enqueueBatch(old, records(100));
        await drained(db.url);
        expect(old.alive).toBe(true);

        // A worker of this release starts beside it (the rolling deploy) and both serve the queue.
        const fresh = await fleet!.start('new-1');
        const sideBySide = [...(await enqueueBatch(old, records(100))), ...(await enqueueBatch(fresh, records(100)))];
        await drained(db.url);
        const live = await query<{ instance_id: string }>(
          db.url,
          'SELECT instance_id FROM job_queue.workers WHERE expires_at > now()',
        );
        expect(live).toEqual([{ instance_id: 'new-1' }]); // the old release does not register

        // The old worker leaves (SIGTERM, its own graceful shutdown); the new one carries on alone.
        old.signal('SIGTERM');
        expect(await old.exited).toEqual({ code: 0, signal: null });
        const afterOld = await enqueueBatch(fresh, records(50));
        await drained(db.url);

        const recordIds = [...backlog, ...afterUpgrade, ...sideBySide, ...afterOld];
        const outcome = await queueOutcome(db.url, recordIds, sleeping);
        expect(outcome).toMatchObject({
          live: 0,
          processing: 0,
          dead: 0,
          withEffect: recordIds.length,
          duplicated: 0,
          lost: 0,
        });
        const deadIds = await query<{ id: string }>(db.url, 'SELECT id FROM job_queue.dead_jobs ORDER BY id');
        expect(deadIds.map((r) => r.id)).toEqual([...failed].sort());
        expect(await totals(db.url)).toEqual({ live: 0, dead: 5, effects: recordIds.length, duplicateJobs: 0 });
        const byInstance = await query<{ instance_id: string; n: number }>(
          db.url,
          'SELECT instance_id, count(*)::int AS n FROM sample.effects GROUP BY 1 ORDER BY 1',
        );
        // Every job that waited at the upgrade and every job enqueued after it ran on the old worker (it was alone).
        expect(byInstance.find((r) => r.instance_id === 'old-1')!.n).toBeGreaterThanOrEqual(
          backlog.length + afterUpgrade.length,
        );
        report('rolling upgrade', {
          from: PREVIOUS_RELEASE,
          atUpgrade,
          migrated: names.slice(1),
          migrationMs,
          recordJobs: recordIds.length,
          sleepJobs: sleeping.length,
          deadKept: deadIds.length,
          effectsByInstance: Object.fromEntries(byInstance.map((r) => [r.instance_id, r.n])),
        });
      },
    ),
    180_000,
  );
});
