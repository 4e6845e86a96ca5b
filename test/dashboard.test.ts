import {
  Controller,
  Injectable,
  Module,
  UseGuards,
  type CanActivate,
  type ExecutionContext,
  type INestApplication,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import {
  DASHBOARD_SCHEDULES,
  JobProducer,
  JobQueueDashboardController,
  JobQueueModule,
  type DashboardSchedules,
} from '@app/job-queue';
import { createTestDatabase, type TestDatabase } from './support/test-database';
import { query } from './support/sql';

/**
 * The dashboard mounted as an app mounts it (its own path, its own guard, a schedules provider), served over HTTP
 * by Express, against a real database: listings and filters, one job, every action, and what it refuses. The
 * browser test (e2e/dashboard-browser.test.ts) drives the same pages through Chromium on the sample app.
 */

const triggered: string[] = [];
const schedules: DashboardSchedules = {
  list: async () => [
    { name: 'nightly<report>', cron: '0 3 * * *', type: 'report.build', timezone: 'UTC', nextRunAt: new Date() },
  ],
  trigger: async (name) => void triggered.push(name),
};

/** The app's own guard: the library sets none, so without it the pages would be open. */
@Injectable()
class OpsOnly implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    return context.switchToHttp().getRequest<{ headers: Record<string, string> }>().headers['x-ops'] === 'yes';
  }
}

@Controller('ops/queue-dashboard')
@UseGuards(OpsOnly)
class OpsDashboard extends JobQueueDashboardController {}

const BASE = '/ops/queue-dashboard';

describe('dashboard over HTTP', () => {
  let db: TestDatabase;
  let app: INestApplication;
  let origin: string;
  let cookie = '';
  let token = '';

  async function get(path: string, headers: Record<string, string> = {}) {
    const res = await fetch(origin + path, { headers: { 'x-ops': 'yes', cookie, ...headers }, redirect: 'manual' });
    const text = await res.text();
    const set = res.headers.get('set-cookie');
    if (set) cookie = set.split(';')[0];
    const field = /name="_csrf" value="([^"]+)"/.exec(text);
    if (field) token = field[1];
    return { status: res.status, text, setCookie: set };
  }

  async function post(path: string, body = `_csrf=${token}`, headers: Record<string, string> = {}) {
    const res = await fetch(origin + path, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'x-ops': 'yes', cookie, 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body,
    });
    return { status: res.status, location: res.headers.get('location'), text: await res.text() };
  }

  const ids = (html: string) => [...html.matchAll(/data-testid="job-link">([0-9a-f-]{36})</g)].map((m) => m[1]);

  beforeAll(async () => {
    db = await createTestDatabase();
    @Module({
      imports: [JobQueueModule.forRoot({ connectionUrl: db.url, runMigrations: false, queues: ['default', 'mail'] })],
      controllers: [OpsDashboard],
      providers: [{ provide: DASHBOARD_SCHEDULES, useValue: schedules }],
    })
    class AppModule {}
    app = await NestFactory.create(AppModule, { logger: false, abortOnError: false });
    await app.listen(0, '127.0.0.1');
    origin = (await app.getUrl()).replace('[::1]', '127.0.0.1');
    // No handler serves these types: they stay pending while the test reads them.
    const producer = app.get(JobProducer);
    await producer.enqueueMany(Array.from({ length: 70 }, (_, i) => ({ type: 'a.one', payload: { i } })));
    await producer.enqueueMany(
      Array.from({ length: 50 }, (_, i) => ({ type: 'b.two', payload: { i }, queue: 'mail' as const })),
    );
  });

  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  it('answers only behind the app guard, under the path the app chose, and sets a strict token cookie', async () => {
    const denied = await fetch(`${origin}${BASE}`);
    expect(denied.status).toBe(403);
    const page = await get(BASE);
    expect(page.status).toBe(200);
    expect(page.setCookie).toMatch(
      new RegExp(`^jq_dashboard_csrf=[A-Za-z0-9_-]{43}; Path=${BASE}; HttpOnly; SameSite=Strict$`),
    );
    expect(page.text).toContain(`href="${BASE}/jobs?state=pending&amp;queue=mail"`);
    expect(page.text).toMatch(/<tr data-queue="mail">[\s\S]*?data-testid="pending"><a [^>]*>50</);
    expect(page.text).toMatch(/<tr data-queue="default">[\s\S]*?data-testid="pending"><a [^>]*>70</);
    expect(page.text).toContain('Counts are exact.');
  });

  it('lists jobs of a state filtered by type, a page at a time, to the end', async () => {
    const first = await get(`${BASE}/jobs?state=pending&type=a.one`);
    expect(first.status).toBe(200);
    expect(ids(first.text)).toHaveLength(50);
    const next = /data-testid="next-page" href="([^"]+)"/.exec(first.text)![1].replace(/&amp;/g, '&');
    const second = await get(next);
    expect(ids(second.text)).toHaveLength(20);
    expect(second.text).toContain('End of the list.');
    const all = [...ids(first.text), ...ids(second.text)];
    expect(new Set(all).size).toBe(70);
    const types = await query<{ type: string }>(db.url, 'SELECT DISTINCT type FROM job_queue.jobs WHERE id = ANY($1)', [
      all,
    ]);
    expect(types).toEqual([{ type: 'a.one' }]);
    expect(ids((await get(`${BASE}/jobs?state=pending&type=none.such`)).text)).toHaveLength(0);
  });

  it('answers bad input with a 400 page naming the field, and an unknown job with a 404', async () => {
    const bad = await get(`${BASE}/jobs?state=bogus`);
    expect(bad.status).toBe(400);
    expect(bad.text).toContain('state must be one of pending, processing, dead, completed, cancelled');
    expect((await get(`${BASE}/jobs/00000000-0000-0000-0000-000000000001`)).status).toBe(404);
    expect((await get(`${BASE}/jobs/not-a-uuid`)).status).toBe(404);
    const badQueue = await post(`${BASE}/queues/${encodeURIComponent('no queue')}/pause`);
    expect(badQueue.status).toBe(400);
    expect(await query(db.url, 'SELECT name FROM job_queue.queues')).toEqual([]);
  });

  it('cancels a pending job, deletes a dead one; each action sends the browser back with a notice', async () => {
    const [job] = await query<{ id: string }>(db.url, `SELECT id FROM job_queue.jobs WHERE type = 'b.two' LIMIT 1`);
    await get(`${BASE}/jobs/${job.id}`);
    const cancel = await post(`${BASE}/jobs/${job.id}/cancel`);
    expect(cancel).toMatchObject({ status: 303, location: `${BASE}/jobs/${job.id}?done=cancelled` });
    expect(await query(db.url, 'SELECT 1 FROM job_queue.jobs WHERE id = $1', [job.id])).toEqual([]);
    expect((await post(`${BASE}/jobs/${job.id}/cancel`)).status).toBe(404);

    const [dead] = await query<{ id: string }>(
      db.url,
      `INSERT INTO job_queue.dead_jobs (id, queue, type, payload, priority, failure_reason, attempt_count,
         max_attempts, created_at, snapshot)
       VALUES (gen_random_uuid(), 'default', 'a.one', '{}', 0, 'gone wrong', 3, 3, now(), '{}') RETURNING id`,
    );
    const page = await get(`${BASE}/jobs/${dead.id}`);
    expect(page.text).toContain('data-testid="delete"');
    const removed = await post(`${BASE}/jobs/${dead.id}/delete`);
    expect(removed).toMatchObject({ status: 303, location: `${BASE}/jobs?state=dead&done=deleted` });
    expect(await query(db.url, 'SELECT 1 FROM job_queue.dead_jobs WHERE id = $1', [dead.id])).toEqual([]);
    expect((await post(`${BASE}/jobs/${dead.id}/delete`)).status).toBe(404);
    expect((await get(`${BASE}/jobs?state=dead&done=deleted`)).text).toContain('Dead job deleted.');
  });

  it('shows the schedules the app provides, escaped, and triggers one', async () => {
    const page = await get(`${BASE}/schedules`);
    expect(page.text).toContain('nightly&lt;report&gt;');
    expect(page.text).not.toContain('nightly<report>');
    const res = await post(`${BASE}/schedules/${encodeURIComponent('nightly<report>')}/trigger`);
    expect(res).toMatchObject({ status: 303, location: `${BASE}/schedules?done=triggered` });
    expect(triggered).toEqual(['nightly<report>']);
  });

  it('refuses an action without the token, with another token, or from another site, and changes nothing', async () => {
    await get(BASE);
    expect((await post(`${BASE}/queues/mail/pause`, '')).status).toBe(403);
    expect((await post(`${BASE}/queues/mail/pause`, '_csrf=' + 'x'.repeat(43))).status).toBe(403);
    expect((await post(`${BASE}/queues/mail/pause`, undefined, { origin: 'https://elsewhere.example' })).status).toBe(
      403,
    );
    expect((await post(`${BASE}/queues/mail/pause`, undefined, { 'sec-fetch-site': 'same-site' })).status).toBe(403);
    expect(await query(db.url, 'SELECT name FROM job_queue.queues')).toEqual([]);
    const ok = await post(`${BASE}/queues/mail/pause`, undefined, { origin, 'sec-fetch-site': 'same-origin' });
    expect(ok).toMatchObject({ status: 303, location: `${BASE}/?done=paused` });
    expect(await query(db.url, 'SELECT name, paused FROM job_queue.queues')).toEqual([{ name: 'mail', paused: true }]);
  });
});
