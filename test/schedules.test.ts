import { Injectable, type INestApplicationContext } from '@nestjs/common';
import { Pool } from 'pg';
import { register } from 'prom-client';
import {
  JOB_QUEUE_METRICS as METRIC,
  JobHandler,
  JobScheduler,
  JobValidationError,
  type JobContext,
} from '@app/job-queue';
import { ScheduleTicker } from '@app/job-queue/internal';
import { CapturingLogger } from './support/capturing-logger';
import { createTestDatabase, type TestDatabase } from './support/test-database';
import { startTestApp } from './support/test-app';
import { percentile } from './support/percentiles';
import { metricSample } from './support/queue-probes';
import { query } from './support/sql';
import { waitFor } from './support/wait-for';

let pool: Pool;

/**
 * Records each run with its slot, the slot the context gave, how late it was claimed and when its job was created
 * (database clock).
 */
async function record(ctx: JobContext): Promise<void> {
  await pool.query(
    `INSERT INTO runs (schedule, job_id, scheduled_for, ctx_scheduled_for, late_ms, started_at, created_at)
     SELECT schedule_name, id, scheduled_for, $2, extract(epoch FROM locked_at - next_retry_at) * 1000, locked_at,
            created_at
     FROM job_queue.jobs WHERE id = $1`,
    [ctx.id, ctx.scheduledFor ?? null],
  );
}

@Injectable()
class Handlers {
  @JobHandler('sched.record')
  async run(_payload: unknown, ctx: JobContext) {
    await record(ctx);
  }

  /** Slower than its one-second period. */
  @JobHandler('sched.slow')
  async slow(_payload: unknown, ctx: JobContext) {
    await record(ctx);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    await pool.query('UPDATE runs SET finished_at = clock_timestamp() WHERE job_id = $1', [ctx.id]);
  }

  @JobHandler('sched.code', { schedule: { cron: '*/2 * * * * *', timezone: 'Europe/Paris', catchUp: 'skip' } })
  async code(_payload: unknown, ctx: JobContext) {
    await record(ctx);
  }
}

/** Two releases of one app: the schedule of `deploy.report` changed from every minute to every five. */
@Injectable()
class ReleaseOne {
  @JobHandler('deploy.report', { schedule: { cron: '* * * * *' } })
  async run() {}
}

@Injectable()
class ReleaseTwo {
  @JobHandler('deploy.report', { schedule: { cron: '*/5 * * * *' } })
  async run() {}
}

const runsOf = (schedule: string) =>
  query<{ scheduled_for: Date; ctx_scheduled_for: Date | null; late_ms: number; started_at: Date; created_at: Date }>(
    process.env.SCHEDULES_TEST_DB!,
    'SELECT scheduled_for, ctx_scheduled_for, late_ms, started_at, finished_at, created_at FROM runs WHERE schedule = $1 ORDER BY scheduled_for',
    [schedule],
  );

describe('schedules', () => {
  let db: TestDatabase;
  const apps: INestApplicationContext[] = [];
  const start = async (options: Record<string, unknown> = {}, logger?: CapturingLogger) => {
    const app = await startTestApp({ connectionUrl: db.url, pollIntervalMs: 5_000, ...options }, [Handlers], logger);
    apps.push(app);
    return app;
  };
  const stopAll = async () => {
    for (const app of apps.splice(0)) await app.close();
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    process.env.SCHEDULES_TEST_DB = db.url;
    pool = new Pool({ connectionString: db.url, max: 4 });
    await pool.query(`CREATE TABLE runs (schedule text, job_id uuid, scheduled_for timestamptz,
      ctx_scheduled_for timestamptz, late_ms float8, started_at timestamptz, finished_at timestamptz,
      created_at timestamptz)`);
  });

  afterAll(async () => {
    await stopAll();
    await pool?.end();
    await db?.drop();
  });

  it('manages schedules through the service: upsert, list with next and last slot, pause, resume, remove', async () => {
    const app = await start();
    const scheduler = app.get(JobScheduler);
    const created = await scheduler.upsert({
      name: 'api.daily',
      type: 'sched.record',
      cron: '0 3 * * *',
      timezone: 'Europe/Paris',
    });
    expect(created).toMatchObject({
      name: 'api.daily',
      created: true,
      paused: false,
      source: 'runtime',
      catchUp: 'latest',
    });
    expect(created.nextRunAt!.getTime()).toBeGreaterThan(Date.now());
    expect(
      new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Paris', hour: '2-digit', minute: '2-digit' }).format(
        created.nextRunAt!,
      ),
    ).toBe('03:00');
    expect(
      (await scheduler.upsert({ name: 'api.daily', type: 'sched.record', cron: '0 3 * * *', timezone: 'Europe/Paris' }))
        .created,
    ).toBe(false);

    expect(await scheduler.pause('api.daily')).toBe(true);
    expect(await scheduler.get('api.daily')).toMatchObject({ paused: true, nextRunAt: null });
    expect(await scheduler.resume('api.daily')).toBe(true);
    expect((await scheduler.get('api.daily'))?.paused).toBe(false);
    expect(await scheduler.pause('nope')).toBe(false);

    // Bad input names its field and writes nothing.
    for (const [input, field] of [
      [{ cron: '0 25 * * *' }, 'cron'],
      [{ timezone: 'Europe/Atlantis' }, 'timezone'],
      [{ catchUp: -1 }, 'catchUp'],
    ] as const) {
      const error = await scheduler
        .upsert({ name: 'api.bad', type: 'sched.record', cron: '* * * * *', ...(input as object) })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(JobValidationError);
      expect((error as JobValidationError).field).toBe(field);
    }
    expect((await scheduler.list()).map((s) => s.name)).not.toContain('api.bad');

    expect(await scheduler.remove('api.daily')).toBe(true);
    expect(await scheduler.remove('api.daily')).toBe(false);
    await stopAll();
  });

  it('deploys: the newer code definition wins, an older release starting later does not bring its own back, run-time schedules are left alone', async () => {
    const release = async (handlers: typeof ReleaseOne) => {
      const app = await startTestApp({ connectionUrl: db.url, pollIntervalMs: 5_000 }, [handlers]);
      apps.push(app);
      return app;
    };
    const cronOf = async () => {
      const [row] = await query<{ cron: string; source: string }>(
        db.url,
        `SELECT cron, source FROM job_queue.schedules WHERE name = 'deploy.report'`,
      );
      return row;
    };
    await release(ReleaseOne);
    await waitFor('release one wrote its schedule', async () => (await cronOf())?.cron === '* * * * *');
    const two = await release(ReleaseTwo);
    await waitFor('release two replaced it', async () => (await cronOf())?.cron === '*/5 * * * *');
    // An instance of the old release (re)starts during the rolling deploy: the definition stays the new one.
    const oldAgain = await release(ReleaseOne);
    await oldAgain.get(ScheduleTicker).refreshNow();
    expect(await cronOf()).toEqual({ cron: '*/5 * * * *', source: 'code' });
    // Changed at run time, the schedule is the operator's: no code sync touches it.
    await two.get(JobScheduler).upsert({ name: 'deploy.report', type: 'deploy.report', cron: '0 * * * *' });
    await release(ReleaseTwo);
    await (await release(ReleaseTwo)).get(ScheduleTicker).refreshNow();
    expect(await cronOf()).toEqual({ cron: '0 * * * *', source: 'runtime' });
    await two.get(JobScheduler).remove('deploy.report');
    await stopAll();
  });

  it('handles the daylight saving change through the service: a daily 02:30 in Paris is next at 03:00 on spring-forward day', async () => {
    const app = await start();
    const scheduler = app.get(JobScheduler);
    await scheduler.upsert({ name: 'dst.paris', type: 'sched.record', cron: '30 2 * * *', timezone: 'Europe/Paris' });
    await scheduler.pause('dst.paris');
    // Where the schedule stands is a row: put it on the day before the change.
    await query(
      db.url,
      `UPDATE job_queue.schedules SET last_slot = '2026-03-28T01:30:00Z', paused = false WHERE name = 'dst.paris'`,
    );
    await query(db.url, `UPDATE job_queue.schedules SET paused = true WHERE name = 'dst.paris'`);
    await query(db.url, `UPDATE job_queue.schedules SET paused = false WHERE name = 'dst.paris'`);
    const info = await scheduler.get('dst.paris');
    expect(info?.nextRunAt?.toISOString()).toBe('2026-03-29T01:00:00.000Z');
    await scheduler.remove('dst.paris');
    await stopAll();
  });

  it('drops the metric series of a removed schedule: names made at run time do not pile up as labels', async () => {
    const app = await start();
    const scheduler = app.get(JobScheduler);
    const names = ['metrics.gone.1', 'metrics.gone.2', 'metrics.kept'];
    for (const name of names) {
      await scheduler.upsert({ name, type: 'sched.record', cron: '* * * * * *', catchUp: 'skip' });
    }
    const fired = (schedule: string) => metricSample(METRIC.scheduleFired, { schedule });
    for (const name of names) await waitFor(`${name} fired`, async () => (await fired(name)) > 0, 30_000);
    const series = async (schedule: string) =>
      (await register.metrics()).split('\n').filter((line) => line.includes(`schedule="${schedule}"`));
    expect(await series('metrics.gone.1')).not.toEqual([]);

    expect(await scheduler.remove('metrics.gone.1')).toBe(true);
    expect(await scheduler.remove('metrics.gone.2')).toBe(true);
    expect(await series('metrics.gone.1')).toEqual([]);
    expect(await series('metrics.gone.2')).toEqual([]);
    expect(await series('metrics.kept')).toEqual([
      expect.stringMatching(/^job_queue_schedule_slots_fired_total\{schedule="metrics.kept"\} [1-9]/),
    ]);
    await scheduler.remove('metrics.kept');
    await stopAll();
  });

  it('fires every second on two instances: one job per slot, on time, the slot in ctx.scheduledFor; the code schedule too', async () => {
    const a = await start();
    await start();
    await a
      .get(JobScheduler)
      .upsert({ name: 'every.second', type: 'sched.record', cron: '* * * * * *', catchUp: 'skip' });
    await waitFor('8 slots run', async () => (await runsOf('every.second')).length >= 8, 30_000);
    await a.get(JobScheduler).pause('every.second');
    const runs = await runsOf('every.second');
    const slots = runs.map((r) => r.scheduled_for.getTime());
    expect(new Set(slots).size).toBe(slots.length);
    for (let i = 1; i < slots.length; i++) expect(slots[i] - slots[i - 1]).toBe(1_000);
    for (const r of runs) expect(r.ctx_scheduled_for?.getTime()).toBe(r.scheduled_for.getTime());
    const late = runs.map((r) => r.late_ms);
    console.log(
      `schedule slot lateness (claim - slot, database clock, ${late.length} slots, poll 5 s): ` +
        `p50 ${percentile(late, 50).toFixed(1)} ms, p99 ${percentile(late, 99).toFixed(1)} ms, max ${Math.max(...late).toFixed(1)} ms`,
    );
    expect(percentile(late, 99)).toBeLessThan(1_000);
    // Declared on the handler: written at start, fired every two seconds.
    const code = await runsOf('sched.code');
    expect(code.length).toBeGreaterThan(2);
    expect(new Set(code.map((r) => r.scheduled_for.getTime())).size).toBe(code.length);
    expect(code.every((r) => r.scheduled_for.getUTCSeconds() % 2 === 0)).toBe(true);
    await stopAll();
  });

  it('overlap skip: with a handler slower than the period, a slot is passed while the previous run is live', async () => {
    const app = await start();
    await app.get(JobScheduler).upsert({ name: 'slow', type: 'sched.slow', cron: '* * * * * *', overlap: 'skip' });
    await waitFor(
      '3 slow runs finished',
      async () => (await runsOf('slow')).filter((r: any) => r.finished_at).length >= 3,
      30_000,
    );
    await app.get(JobScheduler).remove('slow');
    const runs = (await runsOf('slow')) as unknown as Array<{
      scheduled_for: Date;
      started_at: Date;
      finished_at: Date | null;
    }>;
    for (let i = 1; i < runs.length; i++) {
      // Each run started after the previous one finished: none overlapped.
      expect(runs[i].started_at.getTime()).toBeGreaterThanOrEqual(runs[i - 1].finished_at!.getTime());
      expect(runs[i].scheduled_for.getTime() - runs[i - 1].scheduled_for.getTime()).toBeGreaterThanOrEqual(2_000);
    }
    await stopAll();
  });

  it('overlap skip after an outage: one firing leaves one live job, whatever the catch-up fires late', async () => {
    const app = await start();
    const scheduler = app.get(JobScheduler);
    // A queue no instance serves: the jobs created stay pending, as a long run would keep them live.
    const common = { type: 'sched.record', queue: 'sched.unserved', overlap: 'skip' } as const;
    await scheduler.upsert({ ...common, name: 'skip.backfill', cron: '0 3 * * *', catchUp: 3 });
    await scheduler.upsert({ ...common, name: 'skip.latest', cron: '* * * * * *', catchUp: 'latest' });
    const names = ['skip.backfill', 'skip.latest'];
    for (const name of names) await scheduler.pause(name);
    await query(db.url, 'DELETE FROM job_queue.jobs WHERE schedule_name = ANY($1)', [names]);
    // Where the schedules stand is a row: every instance was down for five days (the daily one) or ten seconds.
    await query(
      db.url,
      `UPDATE job_queue.schedules
       SET last_slot = CASE name WHEN 'skip.backfill' THEN date_trunc('day', now()) - interval '5 days 21 hours'
                                 ELSE date_trunc('second', now()) - interval '10 seconds' END,
           paused = false
       WHERE name = ANY($1)`,
      [names],
    );
    const before = await query<{ name: string; last_slot: Date }>(
      db.url,
      'SELECT name, last_slot FROM job_queue.schedules WHERE name = ANY($1)',
      [names],
    );
    await app.get(ScheduleTicker).refreshNow();
    await waitFor(
      'both schedules fired',
      async () => {
        const rows = await query<{ name: string; last_slot: Date }>(
          db.url,
          'SELECT name, last_slot FROM job_queue.schedules WHERE name = ANY($1)',
          [names],
        );
        return rows.every((r) => r.last_slot > before.find((b) => b.name === r.name)!.last_slot);
      },
      30_000,
    );
    const live = await query<{ schedule_name: string; n: number }>(
      db.url,
      `SELECT schedule_name, count(*)::int AS n FROM job_queue.jobs
       WHERE schedule_name = ANY($1) AND status IN ('pending', 'processing') GROUP BY schedule_name ORDER BY 1`,
      [names],
    );
    expect(live).toEqual([
      { schedule_name: 'skip.backfill', n: 1 },
      { schedule_name: 'skip.latest', n: 1 },
    ]);
    for (const name of names) await scheduler.remove(name);
    await query(db.url, 'DELETE FROM job_queue.jobs WHERE schedule_name = ANY($1)', [names]);
    await stopAll();
  });

  it('after a 10 s outage of every instance: skip fires none of the missed slots, latest one, backfill N up to N', async () => {
    const scheduler = (await start()).get(JobScheduler);
    for (const [name, catchUp] of [
      ['outage.skip', 'skip'],
      ['outage.latest', 'latest'],
      ['outage.backfill', 3],
    ] as const) {
      await scheduler.upsert({ name, type: 'sched.record', cron: '* * * * * *', catchUp });
    }
    await waitFor('each fired twice', async () => {
      const counts = await Promise.all(['outage.skip', 'outage.latest', 'outage.backfill'].map(runsOf));
      return counts.every((c) => c.length >= 2);
    });
    await stopAll();
    const [{ down_at }] = await query<{ down_at: Date }>(db.url, 'SELECT now() AS down_at');
    await new Promise((resolve) => setTimeout(resolve, 10_000)); // the outage itself, not a wait for a condition
    const logger = new CapturingLogger();
    await start({}, logger);
    const [{ started_at }] = await query<{ started_at: Date }>(db.url, 'SELECT now() AS started_at');
    await waitFor('two slots after the restart', async () => {
      const counts = await Promise.all(['outage.skip', 'outage.latest', 'outage.backfill'].map(runsOf));
      return counts.every((c) => c.filter((r) => r.scheduled_for > started_at).length >= 2);
    });
    await stopAll();
    // The restart's first firing of each schedule decided which slots of the outage were missed, at its reading of
    // the database's clock, a moment before its INSERT: a slot on time then (within the 1 s grace) may be more than
    // the grace before the jobs' `created_at` on a loaded machine, so the decision is read from its log, and the rows
    // are checked against it.
    const firstFiring = async (name: string) => {
      const [line, passed, late] =
        logger.warnings
          .map((w) => w.match(new RegExp(`^Schedule ${name}: missed slots: (\\d+) passed, (\\d+) fired late`)))
          .find(Boolean) ?? [];
      expect(line).toBeDefined();
      const runs = await runsOf(name);
      const lastBefore = Math.max(...runs.filter((r) => r.created_at < down_at).map((r) => r.scheduled_for.getTime()));
      // One INSERT creates the jobs of a firing: one `created_at`.
      const createdAt = Math.min(...runs.filter((r) => r.created_at > down_at).map((r) => r.created_at.getTime()));
      const fired = runs.filter((r) => r.created_at.getTime() === createdAt).map((r) => r.scheduled_for.getTime());
      // Every slot between the last one fired before the outage and the first one fired after it was passed; the
      // first firing's slots follow each other, a second apart.
      expect((fired[0] - lastBefore) / 1_000 - 1).toBe(Number(passed));
      expect(fired.slice(1).map((slot, i) => slot - fired[i])).toEqual(fired.slice(1).map(() => 1_000));
      // Those fired late were missed by the database's clock too: more than the grace before the INSERT.
      expect(fired.slice(0, Number(late)).every((slot) => slot < createdAt - 1_000)).toBe(true);
      return { passed: Number(passed), late: Number(late) };
    };
    const decided = {
      skip: await firstFiring('outage.skip'),
      latest: await firstFiring('outage.latest'),
      backfill: await firstFiring('outage.backfill'),
    };
    console.log(`missed slots after a 10 s outage: ${JSON.stringify(decided)}`);
    expect(Object.values(decided).map((d) => d.late)).toEqual([0, 1, 3]);
    // Nearly all of the outage's ten slots were missed: the first firing came after it, not during it.
    expect(Object.values(decided).every((d) => d.passed + d.late >= 8)).toBe(true);
    for (const name of ['outage.skip', 'outage.latest', 'outage.backfill']) {
      const slots = (await runsOf(name)).map((r) => r.scheduled_for.getTime());
      expect(new Set(slots).size).toBe(slots.length);
    }
  });
});
