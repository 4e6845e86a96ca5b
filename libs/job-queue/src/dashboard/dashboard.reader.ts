import { Inject, Injectable } from '@nestjs/common';
import { JobRepository } from '../job.repository';
import { JobQueueAdmin } from '../job-queue.admin';
import { JOB_QUEUE_OPTIONS, JOB_TYPE_PATTERN } from '../job-queue.constants';
import type { ResolvedJobQueueOptions } from '../interfaces/job-queue-options.interface';
import { JOB_STATES, type JobState } from '../control/job-control.interface';
import { JobValidationError } from '../errors/job-queue.errors';
import { messages } from '../job-queue.messages';

/** A queue as the overview shows it. `pending` and `dead` are estimates when `exact` says so (see `queues`). */
export interface DashboardQueue {
  queue: string;
  paused: boolean;
  pending: number;
  processing: number;
  dead: number;
}

export interface DashboardOverview {
  queues: DashboardQueue[];
  /** Whether the pending and dead counts are exact, per table; when not, they are scaled from a sample of pages. */
  exact: { jobs: boolean; dead: boolean };
  samplePages: number;
}

export interface DashboardJobPage {
  jobs: Array<Record<string, unknown>>;
  /** The `after` of the next page; null after the last. */
  next: string | null;
  /** Rows of the table the page walked: fewer matches than a page mean the filter is rare there. */
  scanned: number;
}

/** Rows of a table's key a listing walks at most for one page: its cost with any filter, in rows. */
export const DASHBOARD_SCAN_WINDOW = 1_000;
export const DASHBOARD_PAGE_SIZE = 50;
/**
 * Pages of a table the overview's counts read at most (2 MiB): below this size a table is counted exactly, above it
 * a sample of this many pages is scaled to the table's size. Half the depth gauge's sample: a page view must answer
 * at once, and on a freshly loaded table each page read may also be a page written (hint bits).
 */
export const DASHBOARD_SAMPLE_PAGES = 256;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const FIRST_KEY = '00000000-0000-0000-0000-000000000000';

/**
 * The dashboard's reads, each bounded whatever the size of the tables: counts from the catalog's page count and a
 * sample of at most `DASHBOARD_SAMPLE_PAGES` pages per table (exact while a table is that small; running jobs always
 * exact), listings that walk a primary key for at most `DASHBOARD_SCAN_WINDOW` rows, and job lookups by key.
 */
@Injectable()
export class DashboardReader {
  /** @internal Nest constructs it; the parameters are the library's internals. */
  constructor(
    private readonly repository: JobRepository,
    private readonly admin: JobQueueAdmin,
    @Inject(JOB_QUEUE_OPTIONS) private readonly options: ResolvedJobQueueOptions,
  ) {}

  async overview(): Promise<DashboardOverview> {
    const tables = await this.repository.readTableHealth();
    const pages = (name: string) => tables.find((t) => t.table === name)?.pages ?? 0;
    const percent = (table: string) =>
      pages(table) <= DASHBOARD_SAMPLE_PAGES ? 100 : (100 * DASHBOARD_SAMPLE_PAGES) / pages(table);
    const [jobsPercent, deadPercent] = [percent('jobs'), percent('dead_jobs')];
    const [counts, running, flags] = await Promise.all([
      this.repository.countByStatusSampled(jobsPercent, deadPercent),
      this.repository.countProcessingByQueue(),
      this.repository.listQueueFlags(),
    ]);
    const byName = new Map<string, DashboardQueue>();
    const entry = (queue: string) => {
      let q = byName.get(queue);
      if (!q) byName.set(queue, (q = { queue, paused: false, pending: 0, processing: 0, dead: 0 }));
      return q;
    };
    for (const queue of this.options.queues) entry(queue);
    for (const flag of flags) entry(flag.queue).paused = flag.paused;
    for (const row of counts) if (row.status !== 'processing') entry(row.queue)[row.status] += row.count;
    for (const row of running) entry(row.queue).processing = row.count;
    return {
      queues: [...byName.values()].sort((a, b) => a.queue.localeCompare(b.queue)),
      exact: { jobs: jobsPercent === 100, dead: deadPercent === 100 },
      samplePages: DASHBOARD_SAMPLE_PAGES,
    };
  }

  async listJobs(query: { state: string; queue?: string; type?: string; after?: string }): Promise<DashboardJobPage> {
    const state = query.state as JobState;
    if (!JOB_STATES.includes(state)) invalid('state', `must be one of ${JOB_STATES.join(', ')}`);
    for (const field of ['queue', 'type'] as const) {
      const value = query[field];
      if (value !== undefined && !JOB_TYPE_PATTERN.test(value)) {
        invalid(field, `must match ${JOB_TYPE_PATTERN.source}, got ${JSON.stringify(value)}`);
      }
    }
    if (query.after !== undefined && !UUID.test(query.after)) invalid('after', 'must be a job id (a uuid)');
    const page = await this.repository.listJobsWindow(
      state,
      query.queue ?? null,
      query.type ?? null,
      query.after ?? FIRST_KEY,
      DASHBOARD_PAGE_SIZE,
      DASHBOARD_SCAN_WINDOW,
    );
    const full = page.jobs.length === DASHBOARD_PAGE_SIZE;
    const next = full
      ? String(page.jobs[page.jobs.length - 1].id)
      : page.scanned === DASHBOARD_SCAN_WINDOW
        ? page.window_end
        : null;
    return { jobs: page.jobs, next, scanned: page.scanned };
  }

  /** A job in any state with, for a dead one, the stack of its last error; null when unknown. */
  async job(id: string): Promise<(Record<string, unknown> & { stack: string | null }) | null> {
    const job = await this.admin.getJob(id);
    if (!job) return null;
    const stack = job.status === 'dead' ? await this.repository.findDeadStack(id) : null;
    return { ...job, stack };
  }
}

function invalid(field: string, reason: string): never {
  throw new JobValidationError(field, messages.invalidControlInput(field, reason));
}
