import { query } from '../support/sql';
import { waitFor } from '../support/wait-for';
import { report } from './support/queue-outcome';
import { enqueueBatch, withFleetOutput } from './support/sample-process';
import { fleetPerTest } from './support/fleet-per-test';
import {
  attemptsOf,
  installAttemptLog,
  maxOverlapByKey,
  maxStartsInWindow,
  sampleRunning,
} from './support/limit-observer';

/**
 * Limits across real processes: three sample instances (concurrency 10 each) on one database. Each limit is checked
 * twice: by sampling `processing` rows every few ms, and from every attempt's [start, end) interval as recorded by
 * triggers (test/e2e/support/limit-observer.ts), which catches what a sample would fall between.
 */
describe('fairness and limits across instances (e2e)', () => {
  const run = fleetPerTest();
  const ids = ['L1', 'L2', 'L3'];

  const leftOf = async (type: string) => {
    const [row] = await query<{ live: number; dead: number }>(
      run.db.url,
      `SELECT (SELECT count(*)::int FROM job_queue.jobs WHERE type = $1) AS live,
              (SELECT count(*)::int FROM job_queue.dead_jobs WHERE type = $1) AS dead`,
      [type],
    );
    return row;
  };

  it(
    'demo.tenant: at most 2 running per key, small keys finish long before the big one, exact through a SIGKILL',
    withFleetOutput(
      () => run.fleet,
      async () => {
        const [l1] = await run.fleet!.startMany(ids);
        await installAttemptLog(run.db.url);
        const job = (key: string) => ({ type: 'demo.tenant', payload: { ms: 40 }, concurrencyKey: key });
        // The big key first: in plain FIFO order B and C would wait behind all of A.
        const enqueued = await enqueueBatch(l1, [
          ...Array.from({ length: 300 }, () => job('A')),
          ...Array.from({ length: 20 }, () => job('B')),
          ...Array.from({ length: 20 }, () => job('C')),
        ]);
        const sampler = sampleRunning(run.db.url, 'demo.tenant');
        // Mid-run, SIGKILL an instance that holds a job: its rows count until recovery takes them back. Any instance:
        // the one that completes a job of a key claims the key's next job in the same statement, before the others
        // can see the slot free, so a key's slots may stay with one instance from start to end (L1 included).
        const victim = await waitFor('an instance running A jobs after 60 of A finished', async () => {
          const [row] = await query<{ done: number; holder: string | null }>(
            run.db.url,
            `SELECT (SELECT count(*)::int FROM public.attempt_log WHERE key = 'A' AND how = 'deleted') AS done,
                    (SELECT locked_by FROM job_queue.jobs WHERE status = 'processing' AND type = 'demo.tenant'
                     LIMIT 1) AS holder`,
          );
          return row.done >= 60 && row.holder ? row.holder : null;
        });
        await run.fleet!.get(victim).kill();
        await waitFor('every demo.tenant job done', async () => (await leftOf('demo.tenant')).live === 0, 90_000, 100);
        const sampled = await sampler.stop();
        const attempts = await attemptsOf(run.db.url, 'demo.tenant');
        const fromIntervals = maxOverlapByKey(attempts, true);
        const lastEnd = (key: string) => Math.max(...attempts.filter((a) => a.key === key).map((a) => a.end_ms ?? 0));
        const firstStart = Math.min(...attempts.map((a) => a.start_ms));
        const finishedMs = { A: lastEnd('A') - firstStart, B: lastEnd('B') - firstStart, C: lastEnd('C') - firstStart };
        const heldClaims = await Promise.all(
          run
            .fleet!.alive()
            .map((p) => p.metric('job_queue_limit_held_claims_total', { type: 'demo.tenant', limit: 'key' })),
        );
        const completed = new Set(attempts.filter((a) => a.how === 'deleted').map((a) => a.job_id));
        const recovered = attempts.filter((a) => a.how === 'back to pending').length;
        report('limits tenant', {
          enqueued: enqueued.length,
          killed: victim,
          sampledMaxPerKey: sampled,
          intervalMaxPerKey: fromIntervals,
          finishedMsAfterFirstStart: finishedMs,
          attempts: attempts.length,
          recoveredAttempts: recovered,
          completed: completed.size,
          heldClaimsByKeyLimit: heldClaims,
        });
        expect({ A: sampled.A, B: sampled.B, C: sampled.C }).toEqual({ A: 2, B: 2, C: 2 });
        expect(fromIntervals).toEqual({ A: 2, B: 2, C: 2 });
        expect(completed.size).toBe(340);
        expect(heldClaims.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
        expect(await leftOf('demo.tenant')).toEqual({ live: 0, dead: 0 });
        // B and C (20 jobs each, 2 at a time) are done before A (300 jobs, 2 at a time) is a third of the way.
        expect(finishedMs.B).toBeLessThan(finishedMs.A / 3);
        expect(finishedMs.C).toBeLessThan(finishedMs.A / 3);
      },
    ),
  );

  it(
    'demo.global: never more than 3 running across three instances of concurrency 10',
    withFleetOutput(
      () => run.fleet,
      async () => {
        const [l1] = await run.fleet!.startMany(ids);
        await installAttemptLog(run.db.url);
        const sampler = sampleRunning(run.db.url, 'demo.global');
        await enqueueBatch(
          l1,
          Array.from({ length: 90 }, () => ({ type: 'demo.global', payload: { ms: 30 } })),
        );
        await waitFor('every demo.global job done', async () => (await leftOf('demo.global')).live === 0, 60_000, 100);
        const sampled = await sampler.stop();
        const attempts = await attemptsOf(run.db.url, 'demo.global');
        const fromIntervals = maxOverlapByKey(attempts, false);
        const byInstance: Record<string, number> = {};
        for (const a of attempts) byInstance[a.locked_by] = (byInstance[a.locked_by] ?? 0) + 1;
        report('limits global', { sampledMax: sampled, intervalMax: fromIntervals, startsByInstance: byInstance });
        expect(sampled.null).toBeLessThanOrEqual(3);
        expect(fromIntervals['*']).toBeLessThanOrEqual(3);
        expect(fromIntervals['*']).toBeGreaterThanOrEqual(2);
        expect(attempts.filter((a) => a.how === 'deleted')).toHaveLength(90);
      },
    ),
  );

  it(
    'demo.limited: at most 20 starts in any one-second window across three instances, about 20 a second',
    withFleetOutput(
      () => run.fleet,
      async () => {
        const [l1] = await run.fleet!.startMany(ids);
        await installAttemptLog(run.db.url);
        const claimsBefore = await Promise.all(
          run.fleet!.alive().map((p) => p.metric('job_queue_claim_duration_seconds_count')),
        );
        await enqueueBatch(
          l1,
          Array.from({ length: 230 }, () => ({ type: 'demo.limited', payload: {} })),
        );
        await waitFor(
          'every demo.limited job done',
          async () => (await leftOf('demo.limited')).live === 0,
          60_000,
          100,
        );
        const claimsAfter = await Promise.all(
          run.fleet!.alive().map((p) => p.metric('job_queue_claim_duration_seconds_count')),
        );
        const attempts = await attemptsOf(run.db.url, 'demo.limited');
        const starts = attempts.map((a) => a.claimed_ms);
        const first = Math.min(...starts);
        const inFirst10s = starts.filter((s) => s < first + 10_000).length;
        const timeline: number[] = [];
        for (const s of starts)
          timeline[Math.floor((s - first) / 1000)] = (timeline[Math.floor((s - first) / 1000)] ?? 0) + 1;
        const claims = claimsAfter.reduce((a, b) => a + b, 0) - claimsBefore.reduce((a, b) => a + b, 0);
        const spanS = (Math.max(...starts) - first) / 1000;
        report('limits rate', {
          starts: starts.length,
          maxIn1sWindow: maxStartsInWindow(starts, 1000),
          inFirst10s,
          perSecond: Array.from(timeline, (n) => n ?? 0),
          spanS: spanS.toFixed(2),
          claimsAllInstances: claims,
          claimsPerSecondPerInstance: (claims / Math.max(spanS, 1) / 3).toFixed(1),
        });
        expect(starts).toHaveLength(230);
        // Limited, an instance sleeps until the window has room: its claims (of all its 4 handler groups) follow
        // its poll interval, its completions and one timer per window, where a busy loop would run thousands.
        expect(claims / Math.max(spanS, 1) / 3).toBeLessThan(100);
        expect(maxStartsInWindow(starts, 1000)).toBeLessThanOrEqual(20);
        // 10 s hold 200 starts at most; within one period (20 starts) of it.
        expect(inFirst10s).toBeGreaterThanOrEqual(180);
        expect(inFirst10s).toBeLessThanOrEqual(200);
      },
    ),
  );
});
