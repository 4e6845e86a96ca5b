import { Get, Inject, Optional, Param, Post, Query, Req, Res } from '@nestjs/common';
import { JobQueueAdmin } from '../job-queue.admin';
import { JobCancelTimeoutError, JobValidationError } from '../errors/job-queue.errors';
import { CSRF_FIELD, csrfCookie, csrfProblem, csrfTokenFor } from './dashboard-csrf';
import type { Html } from './dashboard-html';
import { headerOf, mountPath, readForm, type DashboardRequest, type DashboardResponse } from './dashboard-request';
import { DashboardReader } from './dashboard.reader';
import { DASHBOARD_SCHEDULES, type DashboardSchedules } from './dashboard-schedules.interface';
import { errorBody, jobPage, jobsPage, layout, overviewPage, schedulesPage } from './dashboard.pages';

/** What an action did, shown once on the page it leads back to (a fixed set: no text travels in the URL). */
const NOTICES = {
  retried: 'Job queued to run again.',
  deleted: 'Dead job deleted.',
  cancelled: 'Job cancelled.',
  paused: 'Queue paused on every instance.',
  resumed: 'Queue resumed.',
  triggered: 'Schedule triggered: its job is enqueued.',
} as const;
type Notice = keyof typeof NOTICES;

class DashboardProblem extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The job queue's dashboard, as a controller base class with no route prefix and no guard of its own: the library
 * never exposes a route by itself. The app mounts it where it wants, behind its own guard:
 *
 * ```ts
 * @Controller('dashboard')
 * @UseGuards(AdminGuard)
 * export class DashboardController extends JobQueueDashboardController {}
 * ```
 *
 * Pages are server-rendered HTML with every value escaped; actions are POSTs checked against cross-site requests
 * (see `dashboard-csrf.ts`), stateless, so any instance serves any request. Works on Express and Fastify (with a
 * form body parser registered, or none: the controller then reads the small form itself).
 */
export class JobQueueDashboardController {
  constructor(
    protected readonly admin: JobQueueAdmin,
    protected readonly reader: DashboardReader,
    @Optional() @Inject(DASHBOARD_SCHEDULES) protected readonly schedules?: DashboardSchedules | null,
  ) {}

  @Get()
  async overview(@Req() req: DashboardRequest, @Res() res: DashboardResponse): Promise<void> {
    await this.page(req, res, 0, 'Queues', async (base, token) =>
      overviewPage(base, token, await this.reader.overview()),
    );
  }

  @Get('jobs')
  async jobs(
    @Req() req: DashboardRequest,
    @Res() res: DashboardResponse,
    @Query() q: Record<string, unknown>,
  ): Promise<void> {
    const text = (v: unknown) => (typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined);
    const filter = {
      state: text(q.state) ?? 'pending',
      queue: text(q.queue),
      type: text(q.type),
      after: text(q.after),
    };
    await this.page(req, res, 1, `Jobs: ${filter.state}`, async (base) =>
      jobsPage(base, filter, await this.reader.listJobs(filter)),
    );
  }

  @Get('jobs/:id')
  async job(@Req() req: DashboardRequest, @Res() res: DashboardResponse, @Param('id') id: string): Promise<void> {
    await this.page(req, res, 2, `Job ${id}`, async (base, token) => {
      const job = await this.reader.job(id);
      if (!job) throw new DashboardProblem(404, `No job ${id} (unknown, or finished and not kept).`);
      return jobPage(base, token, job);
    });
  }

  @Get('schedules')
  async scheduleList(@Req() req: DashboardRequest, @Res() res: DashboardResponse): Promise<void> {
    await this.page(req, res, 1, 'Schedules', async (base, token) =>
      schedulesPage(base, token, this.schedules ? await this.schedules.list() : null),
    );
  }

  @Post('jobs/:id/retry')
  async retry(@Req() req: DashboardRequest, @Res() res: DashboardResponse, @Param('id') id: string): Promise<void> {
    await this.act(req, res, 3, async () => {
      if (!(await this.admin.retryJob(id))) throw new DashboardProblem(404, `No dead or cancelled job ${id}.`);
      return [`/jobs/${id}`, 'retried'];
    });
  }

  @Post('jobs/:id/delete')
  async deleteDead(
    @Req() req: DashboardRequest,
    @Res() res: DashboardResponse,
    @Param('id') id: string,
  ): Promise<void> {
    await this.act(req, res, 3, async () => {
      if (!(await this.admin.deleteDeadJob(id))) throw new DashboardProblem(404, `No dead job ${id}.`);
      return ['/jobs?state=dead', 'deleted'];
    });
  }

  @Post('jobs/:id/cancel')
  async cancel(@Req() req: DashboardRequest, @Res() res: DashboardResponse, @Param('id') id: string): Promise<void> {
    await this.act(req, res, 3, async () => {
      const result = await this.admin.cancel(id);
      if (result.status === 'not-found') throw new DashboardProblem(404, `No live job ${id}.`);
      if (result.status === 'already-finished') {
        throw new DashboardProblem(409, `Job ${id} had already finished (${result.state}).`);
      }
      return [`/jobs/${id}`, 'cancelled'];
    });
  }

  @Post('queues/:queue/pause')
  async pause(
    @Req() req: DashboardRequest,
    @Res() res: DashboardResponse,
    @Param('queue') queue: string,
  ): Promise<void> {
    await this.act(req, res, 3, async () => (await this.admin.pauseQueue(queue), ['/', 'paused']));
  }

  @Post('queues/:queue/resume')
  async resume(
    @Req() req: DashboardRequest,
    @Res() res: DashboardResponse,
    @Param('queue') queue: string,
  ): Promise<void> {
    await this.act(req, res, 3, async () => (await this.admin.resumeQueue(queue), ['/', 'resumed']));
  }

  @Post('schedules/:name/trigger')
  async trigger(
    @Req() req: DashboardRequest,
    @Res() res: DashboardResponse,
    @Param('name') name: string,
  ): Promise<void> {
    await this.act(req, res, 3, async () => {
      if (!this.schedules) throw new DashboardProblem(404, 'No schedules are wired into this dashboard.');
      // Null is the scheduler's "no such schedule" (removed since the page was drawn, or a name typed by hand).
      if ((await this.schedules.trigger(name)) === null) throw new DashboardProblem(404, `No schedule ${name}.`);
      return ['/schedules', 'triggered'];
    });
  }

  /** Renders a page; `segments` is the depth of its route under the mount path. */
  private async page(
    req: DashboardRequest,
    res: DashboardResponse,
    segments: number,
    title: string,
    body: (base: string, token: string) => Promise<Html>,
  ): Promise<void> {
    const base = mountPath(req, segments);
    const { token, isNew } = csrfTokenFor(headerOf(req, 'cookie'));
    if (isNew) res.header('Set-Cookie', csrfCookie(token, base, isHttps(req)));
    const done = (req as { query?: Record<string, unknown> }).query?.done;
    const notice = typeof done === 'string' && done in NOTICES ? NOTICES[done as Notice] : undefined;
    try {
      send(res, 200, layout(base, title, await body(base, token), notice));
    } catch (error) {
      const { status, message } = problemOf(error);
      send(res, status, layout(base, title, errorBody(message)));
    }
  }

  /** Runs an action after the cross-site checks, then sends the browser back to a page (303: a GET). */
  private async act(
    req: DashboardRequest,
    res: DashboardResponse,
    segments: number,
    run: () => Promise<[string, Notice]>,
  ): Promise<void> {
    const base = mountPath(req, segments);
    const form = await readForm(req);
    const refused = csrfProblem({
      cookieHeader: headerOf(req, 'cookie'),
      formToken: form[CSRF_FIELD],
      origin: headerOf(req, 'origin'),
      secFetchSite: headerOf(req, 'sec-fetch-site'),
      host: headerOf(req, 'host'),
    });
    if (refused) {
      send(res, 403, layout(base, 'Refused', errorBody(`Refused ${refused}.`)));
      return;
    }
    try {
      const [path, notice] = await run();
      const to = `${base}${path}${path.includes('?') ? '&' : '?'}done=${notice}`;
      res.status(303).header('Location', to).header('Cache-Control', 'no-store').send();
    } catch (error) {
      const { status, message } = problemOf(error);
      send(res, status, layout(base, 'Not done', errorBody(message)));
    }
  }
}

function problemOf(error: unknown): { status: number; message: string } {
  if (error instanceof DashboardProblem) return { status: error.status, message: error.message };
  if (error instanceof JobValidationError) return { status: 400, message: error.message };
  if (error instanceof JobCancelTimeoutError) return { status: 409, message: error.message };
  throw error; // anything else is the app's exception filters' to answer (a 500, or a 503 for an outage)
}

function isHttps(req: DashboardRequest): boolean {
  return req.protocol === 'https' || headerOf(req, 'x-forwarded-proto') === 'https';
}

/** Headers that keep the pages from being framed, sniffed, cached or given any script. */
function send(res: DashboardResponse, status: number, body: Html): void {
  res
    .status(status)
    .header('Content-Type', 'text/html; charset=utf-8')
    .header('Cache-Control', 'no-store')
    .header('X-Content-Type-Options', 'nosniff')
    .header('Referrer-Policy', 'same-origin')
    .header(
      'Content-Security-Policy',
      "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    )
    .send(body.text);
}
