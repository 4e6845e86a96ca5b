import { query } from '../support/sql';
import { percentile } from '../support/percentiles';
import { waitFor } from '../support/wait-for';
import { report } from './support/queue-outcome';
import { type SampleProcess, withFleetOutput } from './support/sample-process';
import { fleetPerTest } from './support/fleet-per-test';

const IDS = ['sched-a', 'sched-b', 'sched-c'];
/** A slot counts as covered when an instance was ready this long before it and killed no sooner than this after. */
const MARGIN_MS = 1_000;
/**
 * How late a slot may fire as if on time (`scheduleMisfireGraceMs`). Above the library's 1 s: an instance that is up
 * still fires a slot late when its previous fire waits on the database (a commit's flush under CI's load took 2.5 s
 * once, and the every-second slot behind it was passed as missed). Below the full outage, so that it still misses slots.
 */
const GRACE_MS = 3_000;
/** The full outage: every instance down this long, then started one after another. */
const OUTAGE_MS = 5_000;

interface UpInterval {
  id: string;
  from: number;
  to: number;
}

/**
 * Three sample instances fire one every-second schedule with no leader while they are SIGKILLed and restarted, once
 * all at the same time. Every slot of a second during which an instance was up has exactly one effect (written by
 * `demo.record` in its job's transaction, with the job's slot), and no slot has two.
 */
describe('e2e: an every-second schedule on three instances killed and restarted', () => {
  const run = fleetPerTest();

  it(
    'creates exactly one job per slot while any instance is up, and never two',
    withFleetOutput(
      () => run.fleet,
      async () => {
        const fleet = run.fleet!;
        const up = new Map<string, number>();
        const intervals: UpInterval[] = [];
        const now = async () =>
          (await query<{ ms: number }>(run.db.url, 'SELECT (extract(epoch FROM now()) * 1000)::float8 AS ms'))[0].ms;
        const startOne = async (id: string) => {
          await fleet.start(id, { JOB_QUEUE_SCHEDULE_MISFIRE_GRACE_MS: GRACE_MS });
          up.set(id, await now());
        };
        const killOne = async (id: string) => {
          const proc: SampleProcess = fleet.get(id);
          const from = up.get(id)!;
          await proc.kill();
          intervals.push({ id, from, to: await now() });
          up.delete(id);
        };
        for (const id of IDS) await startOne(id);

        const created = await fleet.any().request('POST', '/schedules', {
          name: 'every-second',
          cron: '* * * * * *',
          type: 'demo.record',
          catchUp: 'skip',
        });
        expect(created.status).toBe(201);
        const bad = await fleet
          .any()
          .request('POST', '/schedules', { name: 'bad', cron: '0 25 * * *', type: 'demo.record' });
        expect(bad.status).toBe(400);
        const since = await now();

        // About 32 s: kill one instance at a time and bring it back, then all three at once for a few seconds.
        const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms)); // the scenario's own pacing
        for (const id of ['sched-a', 'sched-b', 'sched-c', 'sched-a']) {
          await pause(2_500);
          await killOne(id);
          await pause(1_500);
          await startOne(id);
        }
        await pause(2_000);
        for (const id of IDS) await killOne(id);
        await pause(OUTAGE_MS);
        for (const id of IDS) await startOne(id);
        await pause(4_000);

        const listed = await fleet.any().request('GET', '/schedules');
        expect(listed.body).toEqual([
          expect.objectContaining({
            name: 'every-second',
            cron: '* * * * * *',
            timezone: 'UTC',
            type: 'demo.record',
            paused: false,
          }),
        ]);
        expect(Date.parse(listed.body[0].lastRunAt)).toBeGreaterThan(since);
        expect((await fleet.any().request('DELETE', '/schedules/every-second')).status).toBe(204);
        expect((await fleet.any().request('DELETE', '/schedules/every-second')).status).toBe(404);
        const until = await now();
        for (const id of [...up.keys()]) intervals.push({ id, from: up.get(id)!, to: until });
        await waitFor(
          'every job of the schedule finished',
          async () =>
            (await query(run.db.url, `SELECT 1 FROM job_queue.jobs WHERE schedule_name = 'every-second'`)).length ===
              0 && (await query(run.db.url, `SELECT 1 FROM job_queue.dead_jobs`)).length === 0,
          30_000,
        );

        const effects = await query<{ slot: number; effects: number; jobs: number; late_ms: number }>(
          run.db.url,
          `SELECT (extract(epoch FROM scheduled_for) * 1000)::float8 AS slot, count(*)::int AS effects,
                  count(DISTINCT job_id)::int AS jobs,
                  min(extract(epoch FROM created_at - scheduled_for) * 1000)::float8 AS late_ms
           FROM sample.effects WHERE scheduled_for IS NOT NULL GROUP BY 1 ORDER BY 1`,
        );
        const bySlot = new Map(effects.map((e) => [e.slot, e]));
        const first = Math.ceil(since / 1_000) * 1_000 + 1_000;
        const last = Math.floor(until / 1_000) * 1_000 - 1_000;
        const covered = (slot: number) => intervals.some((i) => i.from + MARGIN_MS <= slot && slot <= i.to - MARGIN_MS);
        const table = {
          slots: 0,
          covered: 0,
          withJob: 0,
          duplicates: 0,
          missedWhileUp: 0,
          missedWhileNoneUp: 0,
          firedWhileNoneUp: 0,
        };
        const missedUp: string[] = [];
        for (let slot = first; slot <= last; slot += 1_000) {
          const e = bySlot.get(slot);
          table.slots += 1;
          if (e) table.withJob += 1;
          if (e && (e.effects > 1 || e.jobs > 1)) table.duplicates += 1;
          if (covered(slot)) {
            table.covered += 1;
            if (!e) {
              table.missedWhileUp += 1;
              missedUp.push(new Date(slot).toISOString());
            }
          } else if (!intervals.some((i) => i.from <= slot && slot <= i.to)) {
            if (e) table.firedWhileNoneUp += 1;
            else table.missedWhileNoneUp += 1;
          }
        }
        const late = effects.map((e) => e.late_ms);
        report('schedule-every-second', {
          ...table,
          effectsTotal: effects.reduce((n, e) => n + e.effects, 0),
          startLatenessP50Ms: percentile(late, 50).toFixed(1),
          startLatenessP99Ms: percentile(late, 99).toFixed(1),
          kills: intervals.length - IDS.length,
        });
        expect(missedUp).toEqual([]);
        expect(table.duplicates).toBe(0);
        expect(effects.every((e) => e.effects === 1 && e.jobs === 1)).toBe(true);
        // The full outage left slots with nobody to fire them; `catchUp: "skip"` passes them.
        expect(table.missedWhileNoneUp).toBeGreaterThan(0);
        expect(table.covered).toBeGreaterThan(15);
      },
    ),
  );
});
