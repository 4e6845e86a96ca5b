import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { query } from '../support/sql';
import { waitFor } from '../support/wait-for';
import { FAST_RECOVERY_ENV, withFleetOutput, type SampleProcess } from './support/sample-process';
import { fleetPerTest } from './support/fleet-per-test';

/**
 * The dashboard in a real headless Chromium, on a real sample process behind its basic-auth guard: counts, a dead
 * job's page (its `<script>` payload shown as text), retry until it completes, pause and resume; and the refusals
 * (no password, no token, another origin) over plain HTTP.
 */

const CHROMIUM = [process.env.CHROMIUM_PATH, '/usr/bin/chromium'].find((p): p is string => !!p && existsSync(p));
const SHOTS = join(__dirname, '../../test-results/dashboard');
const PASSWORD = 'dashboard-test-password';
const XSS = '</pre><script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">';

if (!CHROMIUM) console.log('dashboard browser test skipped: no Chromium at /usr/bin/chromium or CHROMIUM_PATH');
const withBrowser = CHROMIUM ? it : it.skip;

/** A dead `demo.noop` job, as a failed attempt leaves one: retried, it completes. */
async function insertDeadNoop(url: string): Promise<string> {
  const [row] = await query<{ id: string }>(
    url,
    `INSERT INTO job_queue.dead_jobs (id, queue, type, payload, priority, failure_reason, attempt_count, max_attempts,
       created_at, snapshot)
     VALUES (gen_random_uuid(), 'default', 'demo.noop', $1, 0, 'downstream said no', 1, 1, now(),
       jsonb_build_object('stack', 'Error: downstream said no\n    at DemoHandlers.noop'))
     RETURNING id`,
    [JSON.stringify({ note: XSS })],
  );
  return row.id;
}

async function shot(page: Page, name: string): Promise<void> {
  const path = join(SHOTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  console.log(`screenshot: ${path}`);
}

const basic = (password: string) => `Basic ${Buffer.from(`ops:${password}`).toString('base64')}`;

describe('e2e: the dashboard in a browser', () => {
  const run = fleetPerTest();
  let browser: Browser | undefined;

  afterEach(async () => {
    await browser?.close();
    browser = undefined;
  });

  it(
    'is not mounted without DASHBOARD_PASSWORD, and the start-up log says so',
    withFleetOutput(
      () => run.fleet,
      async () => {
        const app = await run.fleet!.start('a', { ...FAST_RECOVERY_ENV, DASHBOARD_PASSWORD: undefined });
        expect(app.grep(/Dashboard not mounted: DASHBOARD_PASSWORD is not set/)).toHaveLength(1);
        expect((await app.request('GET', '/dashboard')).status).toBe(404);
        expect((await app.request('POST', '/dashboard/queues/default/pause')).status).toBe(404);
      },
    ),
    60_000,
  );

  withBrowser(
    'shows counts, opens a dead job, retries it until it completes, pauses and resumes a queue; refuses the unauthorised',
    withFleetOutput(
      () => run.fleet,
      async () => {
        mkdirSync(SHOTS, { recursive: true });
        const app: SampleProcess = await run.fleet!.start('a', {
          ...FAST_RECOVERY_ENV,
          DASHBOARD_PASSWORD: PASSWORD,
          JOB_QUEUE_RETENTION_MS: 600_000,
          JOB_QUEUE_QUEUES: 'default,other',
        });
        expect(app.grep(/Dashboard mounted at \/dashboard/).length).toBe(1);
        const base = `http://127.0.0.1:${app.port}/dashboard`;

        // No password, a wrong one: 401 with a basic-auth challenge; nothing rendered.
        const anonymous = await fetch(base);
        expect(anonymous.status).toBe(401);
        expect(anonymous.headers.get('www-authenticate')).toMatch(/^Basic /);
        expect((await fetch(base, { headers: { authorization: basic('wrong') } })).status).toBe(401);

        const deadId = await insertDeadNoop(run.db.url);
        // Three jobs waiting in a paused queue: the overview counts them.
        expect((await app.request('POST', '/queues/other/pause')).status).toBe(200);
        for (let i = 0; i < 3; i += 1) {
          expect((await app.request('POST', '/jobs', { type: 'demo.noop', payload: {}, queue: 'other' })).status).toBe(
            201,
          );
        }

        browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
        const context = await browser.newContext({ httpCredentials: { username: 'ops', password: PASSWORD } });
        const page = await context.newPage();

        await page.goto(`${base}/`);
        const row = (queue: string) => page.locator(`tr[data-queue="${queue}"]`);
        expect((await row('other').locator('[data-testid="pending"]').innerText()).trim()).toBe('3');
        expect((await row('other').locator('[data-testid="paused"]').innerText()).trim()).toBe('paused');
        expect((await row('default').locator('[data-testid="dead"]').innerText()).trim()).toBe('1');
        await shot(page, '01-queues');

        // The dead count links to the dead list; the list links to the job.
        await row('default').locator('[data-testid="dead"] a').click();
        await page.locator(`a[data-testid="job-link"]:text("${deadId}")`).click();
        expect(await page.locator('[data-testid="status"]').innerText()).toBe('dead');
        expect(JSON.parse(await page.locator('[data-testid="payload"]').innerText())).toEqual({ note: XSS });
        expect(await page.locator('[data-testid="error"]').innerText()).toBe('downstream said no');
        expect(await page.locator('[data-testid="stack"]').innerText()).toContain('at DemoHandlers.noop');
        // The payload stayed text: no element of it was created, nothing of it ran.
        expect(await page.evaluate('document.querySelectorAll("script, img").length')).toBe(0);
        expect(await page.evaluate('window.__pwned')).toBeUndefined();
        await shot(page, '02-dead-job');

        await page.locator('[data-testid="retry"]').click();
        await page.waitForURL(/done=retried/);
        await waitFor(
          'the retried job shown as completed',
          async () => {
            await page.reload();
            return (await page.locator('[data-testid="status"]').innerText()) === 'completed';
          },
          15_000,
          200,
        );
        await shot(page, '03-retried-completed');

        // Pause and resume `default` from the overview; the flag is the queue's own, as the API reads it.
        const pausedFlag = async (queue: string) =>
          (await app.request<Array<{ queue: string; paused: boolean }>>('GET', '/queues')).body.find(
            (q) => q.queue === queue,
          )?.paused;
        await page.goto(`${base}/`);
        await page.locator('[data-testid="pause-default"]').click();
        await page.waitForURL(/done=paused/);
        expect((await row('default').locator('[data-testid="paused"]').innerText()).trim()).toBe('paused');
        expect(await pausedFlag('default')).toBe(true);
        await shot(page, '04-paused');
        await page.locator('[data-testid="resume-default"]').click();
        await page.waitForURL(/done=resumed/);
        expect((await row('default').locator('[data-testid="paused"]').innerText()).trim()).toBe('running');
        expect(await pausedFlag('default')).toBe(false);
        await shot(page, '05-resumed');

        // Actions without the page's token, or from another origin, are refused and change nothing.
        const cookies = await context.cookies();
        const token = cookies.find((c) => c.name === 'jq_dashboard_csrf')!.value;
        const post = (headers: Record<string, string>, body: string) =>
          fetch(`${base}/queues/default/pause`, {
            method: 'POST',
            redirect: 'manual',
            headers: {
              authorization: basic(PASSWORD),
              'content-type': 'application/x-www-form-urlencoded',
              ...headers,
            },
            body,
          });
        expect((await post({}, '')).status).toBe(403);
        expect((await post({ cookie: `jq_dashboard_csrf=${token}` }, '_csrf=x')).status).toBe(403);
        const crossSite = await post(
          { cookie: `jq_dashboard_csrf=${token}`, origin: 'http://evil.example', 'sec-fetch-site': 'cross-site' },
          `_csrf=${token}`,
        );
        expect(crossSite.status).toBe(403);
        expect(await pausedFlag('default')).toBe(false);
        const same = await post({ cookie: `jq_dashboard_csrf=${token}` }, `_csrf=${token}`);
        expect(same.status).toBe(303);
        expect(await pausedFlag('default')).toBe(true);
      },
    ),
    90_000,
  );
});
