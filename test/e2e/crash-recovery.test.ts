import { dbNow } from '../support/queue-probes';
import { query } from '../support/sql';
import { waitFor } from '../support/wait-for';
import { expectEveryRecordRanOnce, queueOutcome, report, totals } from './support/queue-outcome';
import { enqueueBatch, FAST_RECOVERY_ENV, withFleetOutput, type SampleProcess } from './support/sample-process';
import { fleetPerTest } from './support/fleet-per-test';

/**
 * Crash safety across real processes: instances of the sample app (node dist/apps/sample/main.js) share one
 * database and are killed with SIGKILL mid-run. demo.record writes its effect row in the job's own transaction, so
 * an effect row per job proves it ran, and a second row would prove it ran twice.
 */

const records = (n: number, delayMs = 0) =>
  Array.from({ length: n }, () => ({ type: 'demo.record', payload: { delayMs } }));
const sleeps = (n: number, ms: number) => Array.from({ length: n }, () => ({ type: 'demo.sleep', payload: { ms } }));

async function effectCount(url: string): Promise<number> {
  const [row] = await query<{ n: number }>(url, 'SELECT count(*)::int AS n FROM sample.effects');
  return row.n;
}

/** The instance holding the most jobs right now, and the (id, token) pairs it holds. */
async function busiestInstance(url: string, among: string[]): Promise<string> {
  const rows = await query<{ locked_by: string; n: number }>(
    url,
    `SELECT locked_by, count(*)::int AS n FROM job_queue.jobs
     WHERE status = 'processing' AND locked_by = ANY($1) GROUP BY 1 ORDER BY 2 DESC LIMIT 1`,
    [among],
  );
  return rows[0]?.locked_by ?? among[0];
}

async function leasesHeldBy(url: string, instance: string): Promise<Array<{ id: string; lock_token: string }>> {
  return query(url, `SELECT id, lock_token FROM job_queue.jobs WHERE status = 'processing' AND locked_by = $1`, [
    instance,
  ]);
}

/** Resolves when none of these attempts still holds its row (each was rescued, or finished), with the time taken. */
async function waitRescued(
  url: string,
  leases: Array<{ id: string; lock_token: string }>,
  since: number,
  timeoutMs = 20_000,
): Promise<number> {
  await waitFor(
    `${leases.length} orphaned jobs rescued`,
    async () => {
      const [row] = await query<{ n: number }>(
        url,
        `SELECT count(*)::int AS n FROM job_queue.jobs j JOIN unnest($1::uuid[], $2::uuid[]) AS o(id, token)
         ON j.id = o.id AND j.lock_token = o.token`,
        [leases.map((l) => l.id), leases.map((l) => l.lock_token)],
      );
      return row.n === 0;
    },
    timeoutMs,
    50,
  );
  return Date.now() - since;
}

describe('e2e: crash recovery across processes (SIGKILL)', () => {
  const run = fleetPerTest();

  it(
    'one instance killed mid-run: every record job runs exactly once, none is lost, none is dead-lettered',
    withFleetOutput(
      () => run.fleet,
      async () => {
        const ids = ['kill-a', 'kill-b', 'kill-c'];
        const [a] = await run.fleet!.startMany(ids);
        const startedAt = Date.now();
        const sleepIds = await enqueueBatch(a, sleeps(15, 2_000));
        const recordIds = await enqueueBatch(a, records(3_000));

        await waitFor('300 records done', async () => (await effectCount(run.db.url)) >= 300, 30_000, 20);
        const victim = await busiestInstance(run.db.url, ids);
        const killedAt = Date.now();
        await run.fleet!.get(victim).kill();
        const orphans = await leasesHeldBy(run.db.url, victim);
        await run.fleet!.start(victim);
        const recoverMs = await waitRescued(run.db.url, orphans, killedAt);

        await waitFor('queue drained', async () => (await totals(run.db.url)).live === 0, 60_000, 100);
        const outcome = await queueOutcome(run.db.url, recordIds, sleepIds);
        const all = await totals(run.db.url);
        report('kill', {
          enqueued: recordIds.length + sleepIds.length,
          orphaned: orphans.length,
          recoverMs,
          lost: outcome.lost,
          duplicated: outcome.duplicated,
          dead: outcome.dead,
          totalMs: Date.now() - startedAt,
        });
        expect(orphans.length).toBeGreaterThan(0); // the kill really interrupted work
        expectEveryRecordRanOnce(outcome, all, recordIds.length);
      },
    ),
    90_000,
  );

  it(
    'with prefetch, an instance killed while it holds queued jobs: the survivor recovers them after their lease, each runs exactly once',
    withFleetOutput(
      () => run.fleet,
      async () => {
        const concurrency = Number(FAST_RECOVERY_ENV.JOB_QUEUE_CONCURRENCY);
        const leaseMs = Number(FAST_RECOVERY_ENV.JOB_QUEUE_LEASE_MS);
        const prefetch = 50;
        const [survivorId, victimId] = ['pf-kill-a', 'pf-kill-b'];
        // PGAPPNAME names each instance's pool connections, so the test can see when the victim's sessions are gone.
        const [survivor] = await Promise.all(
          [survivorId, victimId].map((id) =>
            run.fleet!.start(id, { JOB_QUEUE_PREFETCH: prefetch, PGAPPNAME: `e2e:${id}` }),
          ),
        );
        const startedAt = Date.now();
        // 150 ms each: about 130 jobs/s for the pair, so the backlog outlasts the kill and each instance keeps refilling
        // a local queue of up to `prefetch` jobs beside its `concurrency` running ones.
        const recordIds = await enqueueBatch(survivor, records(400, 150));

        const beforeKill = await waitFor(
          'the victim working and holding more jobs than it can run',
          async () => {
            const [row] = await query<{ held: number; effects: number; sessions: number }>(
              run.db.url,
              `SELECT (SELECT count(*)::int FROM job_queue.jobs WHERE status = 'processing' AND locked_by = $1) AS held,
                    (SELECT count(*)::int FROM sample.effects) AS effects,
                    (SELECT count(*)::int FROM pg_stat_activity WHERE application_name = $2) AS sessions`,
              [victimId, `e2e:${victimId}`],
            );
            return row.effects >= 50 && row.held > concurrency ? row : undefined;
          },
          15_000,
          20,
        );
        const heldBeforeKill = beforeKill.held;
        expect(beforeKill.sessions).toBeGreaterThan(0); // else the wait for its sessions to end below would prove nothing
        const killedAt = await dbNow(run.db.url);
        await run.fleet!.get(victimId).kill();
        // Its sessions are gone once PostgreSQL has ended their transactions (rolled back; or a COMMIT already sent,
        // done): the rows it still holds then are exactly the orphans.
        await waitFor(
          'the victim sessions gone',
          async () =>
            (
              await query(run.db.url, 'SELECT 1 FROM pg_stat_activity WHERE application_name = ANY($1)', [
                [`e2e:${victimId}`, `job-queue-listener:${victimId}`],
              ])
            ).length === 0,
          10_000,
          20,
        );
        const orphans = await query<{ id: string; lock_token: string; attempt_count: number; locked_at: string }>(
          run.db.url,
          `SELECT id, lock_token, attempt_count, locked_at::text AS locked_at FROM job_queue.jobs
         WHERE status = 'processing' AND locked_by = $1`,
          [victimId],
        );
        const recoverWallMs = await waitRescued(run.db.url, orphans, Date.now());

        await waitFor('queue drained', async () => (await totals(run.db.url)).live === 0, 30_000, 100);
        const outcome = await queueOutcome(run.db.url, recordIds);
        const all = await totals(run.db.url);
        // Who ran each orphan, on which attempt, and when (database times): after the lease its holder last renewed.
        const recovered = await query<{
          instance_id: string | null;
          charged: number | null;
          after_lease: boolean | null;
          ms_after_kill: number | null;
        }>(
          run.db.url,
          `SELECT e.instance_id, e.attempt - o.held_attempt AS charged,
                e.created_at > o.locked_at + $4::int * interval '1 millisecond' AS after_lease,
                (extract(epoch FROM e.created_at - $5::timestamptz) * 1000)::float8 AS ms_after_kill
         FROM unnest($1::uuid[], $2::int[], $3::timestamptz[]) AS o(id, held_attempt, locked_at)
         LEFT JOIN sample.effects e ON e.job_id = o.id
         ORDER BY o.id`,
          [
            orphans.map((o) => o.id),
            orphans.map((o) => o.attempt_count),
            orphans.map((o) => o.locked_at),
            leaseMs,
            killedAt,
          ],
        );
        const recoveredBySurvivor = await survivor.metric('job_queue_jobs_recovered_total');
        const msAfterKill = recovered.map((r) => r.ms_after_kill ?? NaN);
        report('kill-prefetch', {
          enqueued: recordIds.length,
          concurrency,
          prefetch,
          heldBeforeKill,
          orphaned: orphans.length,
          recoveredBySurvivor,
          firstRecoveredMs: Math.round(Math.min(...msAfterKill)),
          lastRecoveredMs: Math.round(Math.max(...msAfterKill)),
          recoverWallMs,
          lost: outcome.lost,
          duplicated: outcome.duplicated,
          dead: outcome.dead,
          totalMs: Date.now() - startedAt,
        });

        expect(heldBeforeKill).toBeGreaterThan(concurrency);
        // What it held when it died: more than it could run (queued jobs among them), never more than it may claim.
        expect(orphans.length).toBeGreaterThan(concurrency);
        expect(orphans.length).toBeLessThanOrEqual(concurrency + prefetch);
        // Each orphan ran once, on the survivor, after its lease expired, its attempt charged by the crash.
        expect(recovered).toEqual(
          orphans.map(() => expect.objectContaining({ instance_id: survivorId, charged: 1, after_lease: true })),
        );
        expect(recoveredBySurvivor).toBe(orphans.length);
        expectEveryRecordRanOnce(outcome, all, recordIds.length);
      },
    ),
    60_000,
  );

  it(
    'an instance killed and restarted every 2 s for 10 s: exactly once, none lost, none dead-lettered',
    withFleetOutput(
      () => run.fleet,
      async () => {
        const ids = ['rk-a', 'rk-b', 'rk-c'];
        // Eight attempts: five kills cannot spend them all, so a dead letter would be a bug, not bad luck.
        const [a] = await run.fleet!.startMany(ids, { JOB_QUEUE_MAX_ATTEMPTS: 8 });
        const startedAt = Date.now();
        const sleepIds = await enqueueBatch(a, sleeps(10, 2_000));
        // Enough work to outlast the 10 s of kills.
        const recordIds = await enqueueBatch(a, records(2_400, 120));

        let kills = 0;
        let interrupted = 0;
        const rescues: Array<Promise<number>> = [];
        for (let round = 0; round < 5; round++) {
          const tick = Date.now();
          const victim = ids[round % ids.length];
          await run.fleet!.get(victim).kill();
          kills += 1;
          const orphans = await leasesHeldBy(run.db.url, victim);
          interrupted += orphans.length;
          rescues.push(waitRescued(run.db.url, orphans, tick, 30_000));
          await run.fleet!.spawn(victim);
          await new Promise((r) => setTimeout(r, Math.max(0, tick + 2_000 - Date.now()))); // the chaos pace
        }
        const effectsAtLastKill = await effectCount(run.db.url);
        await Promise.all(run.fleet!.latest().map((p) => p.waitReady()));
        const recoverMs = Math.max(...(await Promise.all(rescues)));

        await waitFor('queue drained', async () => (await totals(run.db.url)).live === 0, 60_000, 100);
        const outcome = await queueOutcome(run.db.url, recordIds, sleepIds);
        const all = await totals(run.db.url);
        report('repeated-kills', {
          enqueued: recordIds.length + sleepIds.length,
          kills,
          interrupted,
          worstRecoverMs: recoverMs,
          effectsAtLastKill,
          lost: outcome.lost,
          duplicated: outcome.duplicated,
          dead: outcome.dead,
          totalMs: Date.now() - startedAt,
        });
        expect(interrupted).toBeGreaterThan(0);
        expectEveryRecordRanOnce(outcome, all, recordIds.length);
      },
    ),
    90_000,
  );

  it(
    'a poison job that kills its instance on every try ends in dead_jobs as "lease expired"; other work completes',
    withFleetOutput(
      () => run.fleet,
      async () => {
        const ids = ['poison-a', 'poison-b', 'poison-c'];
        const [a] = await run.fleet!.startMany(ids);
        const startedAt = Date.now();

        // The supervisor: whatever dies is started again, as an orchestrator would.
        let crashes = 0;
        let supervising = true;
        const restarts: Array<Promise<unknown>> = [];
        const supervisor = (async () => {
          while (supervising) {
            for (const proc of run.fleet!.latest()) {
              if (!proc.alive) {
                crashes += 1;
                const next = await run.fleet!.spawn(proc.id);
                restarts.push(next.waitReady().catch(() => undefined));
              }
            }
            await new Promise((r) => setTimeout(r, 100));
          }
        })();

        try {
          const noopIds = await enqueueBatch(
            a,
            Array.from({ length: 300 }, () => ({ type: 'demo.noop' })),
          );
          const recordIds = await enqueueBatch(a, records(300, 5));
          const [crashId] = await enqueueBatch(a, [{ type: 'demo.crash', maxAttempts: 2, priority: 10 }]);

          const dead = await waitFor(
            'the poison job dead-lettered',
            async () => (await query<any>(run.db.url, 'SELECT * FROM job_queue.dead_jobs WHERE id = $1', [crashId]))[0],
            45_000,
            100,
          );
          const deadAfterMs = Date.now() - startedAt;
          await waitFor('queue drained', async () => (await totals(run.db.url)).live === 0, 30_000, 100);
          supervising = false;
          await supervisor;
          await Promise.all(restarts);

          const outcome = await queueOutcome(run.db.url, recordIds, noopIds);
          const all = await totals(run.db.url);
          report('poison', {
            enqueued: noopIds.length + recordIds.length + 1,
            crashes,
            deadAfterMs,
            lost: outcome.lost,
            duplicated: outcome.duplicated,
            dead: all.dead,
            totalMs: Date.now() - startedAt,
          });
          expect(dead).toMatchObject({
            type: 'demo.crash',
            failure_reason: 'lease expired',
            attempt_count: 2,
            max_attempts: 2,
          });
          expect(crashes).toBe(2); // one process per attempt, then never again
          expectEveryRecordRanOnce(outcome, all, recordIds.length, 1);
          expect(run.fleet!.latest().every((p: SampleProcess) => p.alive)).toBe(true);
        } finally {
          supervising = false;
          await supervisor;
        }
      },
    ),
    90_000,
  );
});
