import { Controller, Module, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { JobQueueDashboardController, JobQueueModule, JobScheduler } from '@app/job-queue';
import { createTestDatabase, type TestDatabase } from './support/test-database';
import { query } from './support/sql';

@Controller('dashboard')
class Dashboard extends JobQueueDashboardController {}

/**
 * With no schedules provider of the app's own, the dashboard's schedules page shows the queue's schedules and its
 * button runs one now, through `JobScheduler`: a job of the schedule's type that is not a slot.
 */
describe("the dashboard's schedules page on the queue's own scheduler", () => {
  let db: TestDatabase;
  let app: INestApplication;
  let origin: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    @Module({
      imports: [JobQueueModule.forRoot({ connectionUrl: db.url, runMigrations: false, concurrency: 0 })],
      controllers: [Dashboard],
    })
    class AppModule {}
    app = await NestFactory.create(AppModule, { logger: false, abortOnError: false });
    await app.listen(0, '127.0.0.1');
    origin = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  });

  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  it('lists the schedules and triggers one: its job is enqueued now, and no slot of the schedule moves', async () => {
    const scheduler = app.get(JobScheduler);
    await scheduler.upsert({ name: 'nightly', cron: '0 3 * * *', type: 'report.build', payload: { full: true } });

    const page = await fetch(`${origin}/dashboard/schedules`);
    const html = await page.text();
    expect(page.status).toBe(200);
    expect(html).toContain('nightly');
    expect(html).toContain('0 3 * * *');
    expect(html).not.toContain('No schedules are wired');

    const cookie = page.headers.get('set-cookie')!.split(';')[0];
    const token = /name="_csrf" value="([^"]+)"/.exec(html)![1];
    const trigger = await fetch(`${origin}/dashboard/schedules/nightly/trigger`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: `_csrf=${token}`,
    });
    expect(trigger.status).toBe(303);

    const jobs = await query<{ payload: unknown; schedule_name: string | null; scheduled_for: Date | null }>(
      db.url,
      `SELECT payload, schedule_name, scheduled_for FROM job_queue.jobs WHERE type = 'report.build'`,
    );
    expect(jobs).toEqual([{ payload: { full: true }, schedule_name: null, scheduled_for: null }]);
    expect((await scheduler.get('nightly'))?.lastRunAt).toBeNull();
    expect(await scheduler.trigger('no-such-schedule')).toBeNull();
  });

  it('answers "run now" on a schedule that no longer exists with a 404 naming it, and enqueues nothing', async () => {
    const page = await fetch(`${origin}/dashboard/schedules`);
    const html = await page.text();
    const cookie = page.headers.get('set-cookie')!.split(';')[0];
    const token = /name="_csrf" value="([^"]+)"/.exec(html)![1];
    const before = await query<{ n: number }>(db.url, 'SELECT count(*)::int AS n FROM job_queue.jobs');

    const trigger = await fetch(`${origin}/dashboard/schedules/nope/trigger`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: `_csrf=${token}`,
    });
    expect(trigger.status).toBe(404);
    expect(await trigger.text()).toContain('No schedule nope');
    expect(await query<{ n: number }>(db.url, 'SELECT count(*)::int AS n FROM job_queue.jobs')).toEqual(before);
  });
});
