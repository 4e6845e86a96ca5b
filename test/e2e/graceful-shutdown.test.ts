import { dbNow, RELEASE_STATE_COLUMNS, RELEASED_UNTRIED } from '../support/queue-probes';
import { query } from '../support/sql';
import { waitFor } from '../support/wait-for';
import { report } from './support/queue-outcome';
import { enqueueBatch, FAST_RECOVERY_ENV, withFleetOutput } from './support/sample-process';
import { fleetPerTest } from './support/fleet-per-test';

/**
 * SIGTERM to a real process: jobs that end within JOB_QUEUE_SHUTDOWN_TIMEOUT_MS finish; the others are aborted and
 * handed back (pending, lock cleared, runnable now, attempt refunded); the process exits 0; no row stays locked.
 */
describe('e2e: graceful shutdown on SIGTERM', () => {
  const run = fleetPerTest();

  it(
    'finishes short in-flight jobs, releases long ones at the timeout, exits 0 and leaves no row locked',
    withFleetOutput(
      () => run.fleet,
      async () => {
        const shutdownTimeoutMs = 1_500;
        const proc = await run.fleet!.start('term-a', { JOB_QUEUE_SHUTDOWN_TIMEOUT_MS: shutdownTimeoutMs });
        const shortIds = await enqueueBatch(proc, [
          ...Array.from({ length: 3 }, () => ({ type: 'demo.sleep', payload: { ms: 400 } })),
          { type: 'demo.record', payload: { delayMs: 400 } },
        ]);
        const longIds = await enqueueBatch(proc, [
          ...Array.from({ length: 3 }, () => ({ type: 'demo.sleep', payload: { ms: 30_000 } })),
          { type: 'demo.record', payload: { delayMs: 30_000 } },
        ]);
        const all = [...shortIds, ...longIds];
        await waitFor(
          'all 8 jobs in flight',
          async () =>
            (
              await query(run.db.url, `SELECT 1 FROM job_queue.jobs WHERE id = ANY($1) AND status = 'processing'`, [
                all,
              ])
            ).length === 8,
          10_000,
        );

        const termAt = Date.now();
        proc.signal('SIGTERM');
        const exit = await waitFor('the process to exit', () => proc.exit, shutdownTimeoutMs + 10_000, 20);
        const exitMs = Date.now() - termAt;

        const rows = await query<any>(run.db.url, 'SELECT * FROM job_queue.jobs ORDER BY id');
        const effects = await query<any>(run.db.url, 'SELECT job_id::text FROM sample.effects');
        const dead = await query<any>(run.db.url, 'SELECT id FROM job_queue.dead_jobs');
        const [{ runnable }] = await query<{ runnable: number }>(
          run.db.url,
          'SELECT count(*)::int AS runnable FROM job_queue.jobs WHERE next_retry_at <= now()',
        );
        report('sigterm', {
          enqueued: all.length,
          finished: shortIds.length,
          released: rows.length,
          exitMs,
          exit: JSON.stringify(exit),
        });

        expect(exit).toEqual({ code: 0, signal: null });
        expect(exitMs).toBeGreaterThanOrEqual(shutdownTimeoutMs - 100);
        // Short jobs completed (the record one with its effect, once); long ones are back, as if never claimed.
        expect(rows.map((r) => r.id).sort()).toEqual([...longIds].sort());
        for (const row of rows) {
          expect(row).toMatchObject({
            status: 'pending',
            locked_by: null,
            locked_at: null,
            lock_token: null,
            attempt_count: 0,
          });
        }
        expect(runnable).toBe(longIds.length);
        expect(effects).toEqual([{ job_id: shortIds[3] }]);
        expect(dead).toEqual([]);
        expect(proc.grep(/SIGTERM: shutting down/)).toHaveLength(1);

        // Another instance takes the released jobs at once, not after a lease.
        const next = await run.fleet!.start('term-b');
        await waitFor(
          'released jobs claimed by the next instance',
          async () =>
            (
              await query(
                run.db.url,
                `SELECT 1 FROM job_queue.jobs WHERE status = 'processing' AND locked_by = 'term-b'`,
              )
            ).length === 4,
          5_000,
        );
        next.signal('SIGTERM');
        expect(await next.exited).toEqual({ code: 0, signal: null });
        const [{ locked }] = await query<{ locked: number }>(
          run.db.url,
          `SELECT count(*)::int AS locked FROM job_queue.jobs WHERE status = 'processing' OR lock_token IS NOT NULL OR locked_by IS NOT NULL`,
        );
        expect(locked).toBe(0);
      },
    ),
    60_000,
  );

  it(
    'with prefetch: queued jobs go back to pending at once, attempt refunded, while running ones finish; exit 0; then run once elsewhere',
    withFleetOutput(
      () => run.fleet,
      async () => {
        const concurrency = Number(FAST_RECOVERY_ENV.JOB_QUEUE_CONCURRENCY);
        const prefetch = 50;
        const delayMs = 1_500;
        const proc = await run.fleet!.start('pf-term-a', {
          JOB_QUEUE_PREFETCH: prefetch,
          JOB_QUEUE_SHUTDOWN_TIMEOUT_MS: 5_000,
        });
        // Fewer than concurrency + prefetch: one claim takes them all, so every job still pending after the exit was
        // held by pf-term-a. Each runs 1.5 s, so the first ten are still running when the signal comes.
        const ids = await enqueueBatch(
          proc,
          Array.from({ length: 40 }, () => ({ type: 'demo.record', payload: { delayMs } })),
        );
        const heldBeforeTerm = await waitFor(
          'all 40 jobs claimed by pf-term-a',
          async () => {
            const [{ n }] = await query<{ n: number }>(
              run.db.url,
              `SELECT count(*)::int AS n FROM job_queue.jobs WHERE status = 'processing' AND locked_by = 'pf-term-a'`,
            );
            return n === ids.length ? n : 0;
          },
          10_000,
          20,
        );

        const termAt = await dbNow(run.db.url);
        const termWallAt = Date.now();
        proc.signal('SIGTERM');
        const exit = await waitFor('pf-term-a to exit', () => proc.exit, 15_000, 20);
        const exitMs = Date.now() - termWallAt;

        // Read at once, before any lease could expire: what the shutdown itself left.
        const [{ locked }] = await query<{ locked: number }>(
          run.db.url,
          `SELECT count(*)::int AS locked FROM job_queue.jobs
         WHERE locked_by = 'pf-term-a' OR status = 'processing' OR lock_token IS NOT NULL`,
        );
        const released = await query<Record<string, unknown> & { id: string }>(
          run.db.url,
          `SELECT id, ${RELEASE_STATE_COLUMNS} FROM job_queue.jobs ORDER BY id`,
        );
        const ran = await query<{ job_id: string; attempt: number }>(
          run.db.url,
          `SELECT job_id::text, attempt FROM sample.effects WHERE instance_id = 'pf-term-a'`,
        );
        // Database times: the release (one statement, so one updated_at) against the running jobs' start (their effect's
        // transaction began when they started; each ends at least delayMs later).
        const [timing] = await query<{ statements: number; release_ms: number; before_first_end: boolean }>(
          run.db.url,
          `SELECT count(DISTINCT j.updated_at)::int AS statements,
                (extract(epoch FROM max(j.updated_at) - $1::timestamptz) * 1000)::float8 AS release_ms,
                max(j.updated_at) < (SELECT min(created_at) FROM sample.effects WHERE instance_id = 'pf-term-a')
                                    + $2::int * interval '1 millisecond' AS before_first_end
         FROM job_queue.jobs j`,
          [termAt, delayMs],
        );
        const loggedReleased = proc
          .grep(/Shutdown: \d+ prefetched jobs released to pending/)
          .map((l) => Number(/(\d+) prefetched/.exec(l)![1]));
        const loggedFinished = proc
          .grep(/Shutdown: \d+ in-flight jobs finished/)
          .map((l) => Number(/(\d+) in-flight/.exec(l)![1]));
        report('sigterm-prefetch', {
          enqueued: ids.length,
          concurrency,
          prefetch,
          heldBeforeTerm,
          ran: ran.length,
          released: released.length,
          releaseMsAfterTerm: Math.round(timing.release_ms),
          exitMs,
          exit: JSON.stringify(exit),
        });

        expect(exit).toEqual({ code: 0, signal: null });
        expect(heldBeforeTerm).toBeGreaterThan(concurrency);
        expect(locked).toBe(0);
        // Every held job either ran here (its running attempt drained to completion, once) or went back untried.
        expect([...released.map((r) => r.id), ...ran.map((r) => r.job_id)].sort()).toEqual([...ids].sort());
        expect(ran.map((r) => r.attempt)).toEqual(ran.map(() => 1));
        expect(ran.length).toBeGreaterThan(0);
        // Only the jobs running at the signal ran: no queued job started after it.
        expect(ran.length).toBeLessThanOrEqual(concurrency);
        expect(released.length).toBe(heldBeforeTerm - ran.length);
        for (const row of released) expect(row).toEqual({ id: row.id, ...RELEASED_UNTRIED });
        // Released at once, in one statement, before the first running job could have finished: not after the drain.
        expect(timing).toMatchObject({ statements: 1, before_first_end: true });
        expect(loggedReleased).toEqual([released.length]);
        expect(loggedFinished).toEqual([ran.length]);
        expect(proc.grep(/still running after/)).toEqual([]);

        // Another instance takes the released jobs at once and runs each exactly once, on its first attempt.
        const next = await run.fleet!.start('pf-term-b', { JOB_QUEUE_CONCURRENCY: 15 });
        await waitFor(
          'queue drained',
          async () => (await query(run.db.url, 'SELECT 1 FROM job_queue.jobs LIMIT 1')).length === 0,
          15_000,
          50,
        );
        const byB = await query<{ job_id: string; attempt: number }>(
          run.db.url,
          `SELECT job_id::text, attempt FROM sample.effects WHERE instance_id = 'pf-term-b'`,
        );
        const [effects] = await query<{ n: number; distinct_jobs: number }>(
          run.db.url,
          'SELECT count(*)::int AS n, count(DISTINCT job_id)::int AS distinct_jobs FROM sample.effects',
        );
        const [{ dead }] = await query<{ dead: number }>(
          run.db.url,
          'SELECT count(*)::int AS dead FROM job_queue.dead_jobs',
        );
        const byId = (a: { job_id: string }, b: { job_id: string }) => a.job_id.localeCompare(b.job_id);
        expect(byB.sort(byId)).toEqual(released.map((r) => ({ job_id: r.id, attempt: 1 })).sort(byId));
        expect(effects).toEqual({ n: ids.length, distinct_jobs: ids.length });
        expect(dead).toBe(0);
        expect(await next.metric('job_queue_jobs_recovered_total')).toBe(0);
      },
    ),
    60_000,
  );

  it(
    'SIGTERM to a busy instance while another keeps working: exits 0 with no row left locked by it, nothing lost',
    withFleetOutput(
      () => run.fleet,
      async () => {
        const [busy, other] = await run.fleet!.startMany(['busy-a', 'busy-b']);
        const jobs = [
          ...Array.from({ length: 1_000 }, () => ({ type: 'demo.record', payload: { delayMs: 2 } })),
          ...Array.from({ length: 1_000 }, () => ({ type: 'demo.noop' })),
        ];
        const ids = await enqueueBatch(other, jobs);
        const recordIds = ids.slice(0, 1_000);
        await waitFor(
          'busy-a working',
          async () =>
            (await query(run.db.url, `SELECT 1 FROM sample.effects WHERE instance_id = 'busy-a' LIMIT 1`)).length === 1,
          10_000,
        );
        const termAt = Date.now();
        busy.signal('SIGTERM');
        const exit = await waitFor('busy-a to exit', () => busy.exit, 15_000, 20);
        const exitMs = Date.now() - termAt;
        // Checked at once, before any lease could expire: a controlled stop leaves nothing for the rescuer.
        const [{ locked }] = await query<{ locked: number }>(
          run.db.url,
          `SELECT count(*)::int AS locked FROM job_queue.jobs WHERE locked_by = 'busy-a'`,
        );
        await waitFor(
          'queue drained',
          async () => (await query(run.db.url, 'SELECT 1 FROM job_queue.jobs LIMIT 1')).length === 0,
          30_000,
          100,
        );
        const [effects] = await query<{ n: number; distinct_jobs: number }>(
          run.db.url,
          'SELECT count(*)::int AS n, count(DISTINCT job_id)::int AS distinct_jobs FROM sample.effects WHERE job_id = ANY($1)',
          [recordIds],
        );
        const [{ dead }] = await query<{ dead: number }>(
          run.db.url,
          'SELECT count(*)::int AS dead FROM job_queue.dead_jobs',
        );
        const recovered = await other.metric('job_queue_jobs_recovered_total');
        report('sigterm-busy', {
          enqueued: ids.length,
          exitMs,
          lockedAfterExit: locked,
          effects: effects.n,
          dead,
          recoveredByOther: recovered,
        });
        expect(exit).toEqual({ code: 0, signal: null });
        expect(locked).toBe(0);
        expect(effects).toEqual({ n: recordIds.length, distinct_jobs: recordIds.length });
        expect(dead).toBe(0);
        expect(recovered).toBe(0); // nothing waited for a lease to expire
      },
    ),
    60_000,
  );
});
