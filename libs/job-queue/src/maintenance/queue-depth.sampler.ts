import { Inject, Injectable } from '@nestjs/common';
import { JobRepository, type TableHealth } from '../job.repository';
import { JOB_QUEUE_OPTIONS } from '../job-queue.constants';
import type { ResolvedJobQueueOptions } from '../interfaces/job-queue-options.interface';
import { JobQueueMetrics } from '../observability/job-queue.metrics';
import { JobPoller } from '../worker/job.poller';
import { RecurringTask } from './recurring-task';
import { WorkerRegistry } from './worker.registry';
import { JobHandlerRegistry } from '../discovery/job-handler.registry';
import { limitsOf } from '../limits/job-limits';

/** Due jobs of a limited type counted at most, per sample (the waiting-on-a-limit gauge reads `≥` beyond). */
export const LIMIT_WAITING_CAP = 10_000;

/**
 * Pages of each table the depth count reads at most (4 MiB): below this a table is counted exactly, above it a
 * sample of this many pages is scaled to its size. Its cost is the same at ten thousand rows and at ten million.
 */
export const DEPTH_SAMPLE_PAGES = 512;

/**
 * Feeds the gauges that need a query or a look at the pool, on every instance, per interval (never per scrape or
 * per job): the tables' dead tuples, the oldest transaction holding the horizon and the index entries read per
 * claim (statistics views only); queue depth by status (a bounded page sample); the age of the oldest runnable
 * pending job (one index probe per priority); due jobs of each type with limits (capped); waiting pool clients; the age of the claim loop's last tick; and
 * flags pending jobs that no live worker serves (a count capped per queue and type). No statement here reads a
 * number of rows that grows with the runnable backlog (the waiting count of a limited type steps over that type's
 * index entries not yet due, without reading their rows).
 */
@Injectable()
export class QueueDepthSampler {
  private readonly task: RecurringTask | undefined;
  private previousClaimStats: { reads: number; scans: number } | undefined;

  constructor(
    @Inject(JOB_QUEUE_OPTIONS) private readonly options: ResolvedJobQueueOptions,
    private readonly repository: JobRepository,
    private readonly metrics: JobQueueMetrics,
    private readonly poller: JobPoller,
    private readonly workers: WorkerRegistry,
    private readonly handlers: JobHandlerRegistry,
  ) {
    if (options.depthSampleIntervalMs > 0) {
      this.task = new RecurringTask(`job-queue:${options.schema}:depth`, options.depthSampleIntervalMs, () =>
        this.sample(),
      );
    }
  }

  start(): void {
    this.task?.start();
    void this.task?.runOnce();
  }

  stop(): Promise<void> {
    return this.task?.stop() ?? Promise.resolve();
  }

  runOnce(): Promise<void> {
    return this.task?.runOnce() ?? Promise.resolve();
  }

  private async sample(): Promise<void> {
    this.metrics.poolWaiting.set(this.repository.pool.waitingCount);
    if (this.poller.active) this.metrics.lastPollAge.set(this.poller.stalledMs() / 1000);
    const tables = await this.repository.readTableHealth();
    this.recordTableHealth(tables);
    const pages = (name: string) => tables.find((t) => t.table === name)?.pages ?? 0;
    const counts = await this.repository.countByStatusSampled(
      samplePercent(pages('jobs')),
      samplePercent(pages('dead_jobs')),
    );
    this.metrics.queueDepth(counts, this.options.queues);
    this.metrics.oldestPending(await this.repository.oldestPendingAgeMs());
    const limited = this.handlers
      .all()
      .filter((h) => limitsOf(h.options, h.name))
      .map((h) => h.type);
    if (limited.length > 0) {
      this.metrics.limitWaiting(
        await this.repository.countLimitedWaiting(this.options.queues, limited, LIMIT_WAITING_CAP),
      );
    }
    await this.workers.checkUnserved();
  }

  private recordTableHealth(tables: TableHealth[]): void {
    const any = tables[0];
    if (!any) return;
    const oldest = any.horizon_since_ms === null ? 0 : (any.now_ms - any.horizon_since_ms) / 1000;
    const previous = this.previousClaimStats;
    const current = { reads: any.claim_reads, scans: any.claim_scans };
    this.previousClaimStats = current;
    const scans = previous ? current.scans - previous.scans : 0;
    // A statistics reset makes the difference negative: no figure for that interval.
    const perClaim =
      previous && scans > 0 && current.reads >= previous.reads ? (current.reads - previous.reads) / scans : null;
    this.metrics.tableHealth(
      tables.map((t) => ({ table: t.table, deadTuples: t.dead_tuples })),
      oldest,
      perClaim,
    );
  }
}

/** The share of a table's pages (in percent) that the depth count reads: all of a small table, a fixed number beyond. */
export function samplePercent(pages: number): number {
  return pages <= DEPTH_SAMPLE_PAGES ? 100 : (100 * DEPTH_SAMPLE_PAGES) / pages;
}
