import { query } from '../support/sql';
import { waitFor } from '../support/wait-for';
import { report, totals } from './support/queue-outcome';
import { enqueueBatch, withFleetOutput } from './support/sample-process';
import { fleetPerTest } from './support/fleet-per-test';

const COMPLETED = 'job_queue_jobs_completed_total';
const LEASE_LOST = 'job_queue_lease_lost_total';

/**
 * A stalled worker (SIGSTOP: a long GC pause, a frozen VM) outlives its lease. Another instance takes its jobs; when
 * the stale one wakes, its late completions are fenced off by the lock token and counted as lease lost.
 */
describe('e2e: a stalled worker (SIGSTOP past its lease)', () => {
  const run = fleetPerTest();

  it(
    'its jobs are taken over, its late results change nothing and count as lease lost, each job completes once',
    withFleetOutput(
      () => run.fleet,
      async () => {
        const stale = await run.fleet!.start('stall-a');
        const sleepIds = await enqueueBatch(
          stale,
          Array.from({ length: 5 }, () => ({ type: 'demo.sleep', payload: { ms: 3_000 } })),
        );
        // A transactional job holds its row in its open transaction: nobody may take it, stalled or not.
        const [recordId] = await enqueueBatch(stale, [{ type: 'demo.record', payload: { delayMs: 1_500 } }]);
        const all = [...sleepIds, recordId];
        await waitFor(
          'all jobs in flight on stall-a',
          async () =>
            (
              await query(run.db.url, `SELECT 1 FROM job_queue.jobs WHERE id = ANY($1) AND locked_by = 'stall-a'`, [
                all,
              ])
            ).length === 6,
          10_000,
        );
        const [{ n: effectsBeforeStop }] = await query<{ n: number }>(
          run.db.url,
          'SELECT count(*)::int AS n FROM sample.effects',
        );

        const stoppedAt = Date.now();
        stale.signal('SIGSTOP');
        const other = await run.fleet!.start('stall-b');
        await waitFor(
          'stall-b took over every sleep job',
          async () =>
            (
              await query(run.db.url, `SELECT 1 FROM job_queue.jobs WHERE id = ANY($1) AND locked_by = 'stall-b'`, [
                sleepIds,
              ])
            ).length === 5,
          15_000,
          50,
        );
        const takeoverMs = Date.now() - stoppedAt;
        // The record job's row is still held by the stalled instance's transaction: not rescued, not run elsewhere.
        const [recordRow] = await query<any>(
          run.db.url,
          'SELECT status, locked_by, attempt_count FROM job_queue.jobs WHERE id = $1',
          [recordId],
        );
        expect(recordRow).toEqual({ status: 'processing', locked_by: 'stall-a', attempt_count: 1 });

        stale.signal('SIGCONT');
        await waitFor(
          'stall-a counts its lost leases',
          async () => (await stale.metric(LEASE_LOST, { type: 'demo.sleep' })) >= 5,
          10_000,
          100,
        );
        // Drained, and counted: an instance counts a completion once its statement has returned, after the rows went.
        await waitFor(
          'queue drained, its completions counted',
          async () =>
            (await totals(run.db.url)).live === 0 && (await other.metric(COMPLETED, { type: 'demo.sleep' })) >= 5,
          20_000,
          100,
        );

        const staleLost = await stale.metric(LEASE_LOST, { type: 'demo.sleep' });
        const staleCompleted = await stale.metric(COMPLETED, { type: 'demo.sleep' });
        const otherCompleted = await other.metric(COMPLETED, { type: 'demo.sleep' });
        const effects = await query<any>(run.db.url, 'SELECT job_id::text, instance_id, attempt FROM sample.effects');
        const all_ = await totals(run.db.url);
        report('stall', {
          enqueued: all.length,
          takeoverMs,
          staleLeaseLost: staleLost,
          staleCompleted,
          otherCompleted,
          effects: effects.length,
          dead: all_.dead,
        });

        expect(effectsBeforeStop).toBe(0); // the record job's effect was not yet committed when the worker stalled
        expect(staleLost).toBe(5); // once per attempt
        expect(staleCompleted).toBe(0); // its late completions matched no row
        expect(otherCompleted).toBe(5); // each sleep job completed exactly once, by the instance holding it
        expect(effects).toEqual([{ job_id: recordId, instance_id: 'stall-a', attempt: 1 }]);
        expect(all_).toEqual({ live: 0, dead: 0, effects: 1, duplicateJobs: 0 });
        expect(stale.alive && other.alive).toBe(true);
      },
    ),
    60_000,
  );
});
