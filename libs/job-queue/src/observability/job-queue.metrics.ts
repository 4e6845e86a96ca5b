import { Inject, Injectable } from '@nestjs/common';
import { metricToken, type QueueMetric } from './job-queue-metric.providers';
import { JobHandlerRegistry } from '../discovery/job-handler.registry';
import { JOB_QUEUE_OPTIONS } from '../job-queue.constants';
import type { ResolvedJobQueueOptions } from '../interfaces/job-queue-options.interface';
import { MetricLabels } from './metric-labels';
import { METRIC } from './metric-names';

// prom-client is an optional peer: the metrics are injected by the library's own tokens and typed by the surface
// the queue uses, so that neither this file nor its declarations need prom-client.
const InjectMetric = (name: string) => Inject(metricToken(name));

const DEPTH_STATUSES = ['pending', 'processing', 'dead'] as const;

export type AttemptOutcome = 'completed' | 'retried' | 'dead' | 'lease_lost' | 'released' | 'snoozed' | 'cancelled';

interface JobLabels {
  queue: string;
  type: string;
}

/** A pair's label objects, made once; never mutated (prom-client keeps references to them in its series). */
interface CachedLabels {
  job: { queue: string; type: string };
  byOutcome: Map<AttemptOutcome, { queue: string; type: string; outcome: AttemptOutcome }>;
}

/** The one place that turns queue events into metric updates; label values pass through `MetricLabels`. */
@Injectable()
export class JobQueueMetrics {
  private readonly labels: MetricLabels;
  /**
   * The label objects of this instance's own (queue, type) pairs, by queue then type: every attempt observes two
   * or three series, and building their label objects per job was a measurable share of the worker's allocations.
   * Only pairs that are their own labels are kept (a served queue, a type with a handler here), so the map is
   * bounded by the configuration, whatever producers send.
   */
  private readonly cached = new Map<string, Map<string, CachedLabels>>();

  constructor(
    @Inject(JOB_QUEUE_OPTIONS) options: ResolvedJobQueueOptions,
    registry: JobHandlerRegistry,
    @InjectMetric(METRIC.enqueued) private readonly enqueued: QueueMetric,
    @InjectMetric(METRIC.completed) private readonly completed: QueueMetric,
    @InjectMetric(METRIC.retried) private readonly retried: QueueMetric,
    @InjectMetric(METRIC.dead) private readonly dead: QueueMetric,
    @InjectMetric(METRIC.recovered) private readonly recovered: QueueMetric,
    @InjectMetric(METRIC.leaseLost) private readonly leaseLostTotal: QueueMetric,
    @InjectMetric(METRIC.duration) private readonly duration: QueueMetric,
    @InjectMetric(METRIC.wait) private readonly wait: QueueMetric,
    @InjectMetric(METRIC.inFlight) readonly inFlight: QueueMetric,
    @InjectMetric(METRIC.concurrency) readonly concurrency: QueueMetric,
    @InjectMetric(METRIC.depth) private readonly depth: QueueMetric,
    @InjectMetric(METRIC.oldestPendingAge) private readonly oldestPendingAge: QueueMetric,
    @InjectMetric(METRIC.claimErrors) private readonly claimErrors: QueueMetric,
    @InjectMetric(METRIC.listenerConnected) private readonly listenerConnected: QueueMetric,
    @InjectMetric(METRIC.poolWaiting) readonly poolWaiting: QueueMetric,
    @InjectMetric(METRIC.lastPollAge) readonly lastPollAge: QueueMetric,
    @InjectMetric(METRIC.unserved) private readonly unserved: QueueMetric,
    @InjectMetric(METRIC.claimDuration) private readonly claimDuration: QueueMetric,
    @InjectMetric(METRIC.claimRowsExamined) private readonly claimRowsExamined: QueueMetric,
    @InjectMetric(METRIC.oldestTransactionAge) private readonly oldestTransactionAge: QueueMetric,
    @InjectMetric(METRIC.deadTuples) private readonly deadTuples: QueueMetric,
    @InjectMetric(METRIC.vacuums) private readonly vacuums: QueueMetric,
    @InjectMetric(METRIC.indexRebuilds) private readonly indexRebuilds: QueueMetric,
    @InjectMetric(METRIC.limitHeld) private readonly limitHeldTotal: QueueMetric,
    @InjectMetric(METRIC.limitWaiting) private readonly limitWaitingJobs: QueueMetric,
    @InjectMetric(METRIC.cancelled) private readonly cancelled: QueueMetric,
  ) {
    this.labels = new MetricLabels(options.queues, registry);
  }

  /** One claim statement took `seconds` (observed per claim, never per job). */
  claimed(seconds: number): void {
    this.claimDuration.observe({}, seconds);
  }

  /**
   * The database-side view of the queue's tables: dead tuples per table, the age of the oldest transaction
   * holding the horizon, and the index entries a claim read on average since the previous sample (`null`: no
   * claim scanned the index in between, or no previous sample; the gauge keeps its value).
   */
  tableHealth(
    tables: Array<{ table: string; deadTuples: number }>,
    oldestTransactionSeconds: number,
    rowsPerClaim: number | null,
  ): void {
    for (const t of tables) this.deadTuples.set({ table: t.table }, t.deadTuples);
    this.oldestTransactionAge.set(Math.max(0, oldestTransactionSeconds));
    if (rowsPerClaim !== null) this.claimRowsExamined.set(rowsPerClaim);
  }

  vacuum(table: string, outcome: 'vacuumed' | 'busy' | 'horizon_held' | 'denied'): void {
    this.vacuums.inc({ table, outcome });
  }

  indexRebuild(table: string, outcome: 'rebuilt' | 'dropped' | 'busy' | 'denied'): void {
    this.indexRebuilds.inc({ table, outcome });
  }

  /** A claim of a limited type left due jobs waiting on `limit` (`global`, `key`, `rate`, `key_rate`). */
  limitHeld(type: string, limit: string): void {
    this.limitHeldTotal.inc({ type: this.labels.type(type), limit });
  }

  /** Replaces the waiting-on-a-limit series with this sample's counts, one per type with limits. */
  limitWaiting(rows: Array<{ type: string; waiting: number }>): void {
    this.limitWaitingJobs.reset();
    for (const row of rows) this.limitWaitingJobs.set({ type: this.labels.type(row.type) }, row.waiting);
  }

  jobsEnqueued(jobs: JobLabels[]): void {
    for (const job of jobs) this.enqueued.inc(this.labels.of(job));
  }

  attemptStarted(job: JobLabels, waitSeconds: number): void {
    this.wait.observe(this.labelsOf(job).job, Math.max(0, waitSeconds));
  }

  attemptFinished(job: JobLabels, outcome: AttemptOutcome, seconds: number): void {
    const cached = this.labelsOf(job);
    const labels = cached.job;
    let withOutcome = cached.byOutcome.get(outcome);
    if (!withOutcome) cached.byOutcome.set(outcome, (withOutcome = { ...labels, outcome }));
    this.duration.observe(withOutcome, seconds);
    if (outcome === 'completed') this.completed.inc(labels);
    else if (outcome === 'retried') this.retried.inc(labels);
    else if (outcome === 'dead') this.dead.inc(labels);
  }

  /** An attempt lost its lease; the executor calls this once per attempt, whoever found the loss first. */
  /** Counted by the instance that cancelled them, once per job, whether it was pending or running. */
  jobsCancelled(jobs: JobLabels[]): void {
    for (const job of jobs) this.cancelled.inc(this.labels.of(job));
  }

  leaseLost(job: JobLabels): void {
    this.leaseLostTotal.inc(this.labels.of(job));
  }

  jobRecovered(job: JobLabels, killed: boolean): void {
    const labels = this.labels.of(job);
    this.recovered.inc(labels);
    if (killed) this.dead.inc(labels);
  }

  /** The pair's label objects: from the cache for this instance's own pairs, made afresh for any other. */
  private labelsOf(job: JobLabels): CachedLabels {
    const found = this.cached.get(job.queue)?.get(job.type);
    if (found) return found;
    const labels = this.labels.of(job);
    const made: CachedLabels = { job: labels, byOutcome: new Map() };
    // A type reads `other` until its handler is registered (module init): only a pair that is its own label is kept.
    if (labels.queue === job.queue && labels.type === job.type) {
      let byType = this.cached.get(job.queue);
      if (!byType) this.cached.set(job.queue, (byType = new Map<string, CachedLabels>()));
      byType.set(job.type, made);
    }
    return made;
  }

  claimFailed(): void {
    this.claimErrors.inc();
  }

  listenerState(connected: boolean): void {
    this.listenerConnected.set(connected ? 1 : 0);
  }

  /**
   * Replaces the depth series with `rows`. The queues this instance serves read 0 for every status with no rows,
   * so an empty queue shows as 0 rather than as no data; the rows of all other queues add up under `other`.
   */
  queueDepth(
    rows: Array<{ queue: string; status: string; count: number }>,
    servedQueues: readonly string[] = [],
  ): void {
    const depth = new Map<string, { queue: string; status: string; count: number }>();
    const add = (queue: string, status: string, count: number) => {
      const key = JSON.stringify([queue, status]);
      depth.set(key, { queue, status, count: (depth.get(key)?.count ?? 0) + count });
    };
    for (const queue of servedQueues) for (const status of DEPTH_STATUSES) add(queue, status, 0);
    for (const row of rows) add(this.labels.queue(row.queue), row.status, row.count);
    this.depth.reset();
    for (const { queue, status, count } of depth.values()) this.depth.set({ queue, status }, count);
  }

  /**
   * Replaces the unserved-jobs series: a pair that is served again disappears rather than reading a stale count.
   * Labelled like every other metric (a type or queue this instance does not know counts as `other`), so a producer
   * cannot create series; the warning and the health details name the pairs.
   */
  unservedJobs(rows: Array<{ queue: string; type: string; pending: number }>): void {
    const sums = new Map<string, { queue: string; type: string; pending: number }>();
    for (const row of rows) {
      const labels = this.labels.of(row);
      const key = JSON.stringify([labels.queue, labels.type]);
      sums.set(key, { ...labels, pending: (sums.get(key)?.pending ?? 0) + row.pending });
    }
    this.unserved.reset();
    for (const { queue, type, pending } of sums.values()) this.unserved.set({ queue, type }, pending);
  }

  /** Age of the oldest runnable pending job, by the database's clock; `null` (none waiting) reads as 0. */
  oldestPending(ageMs: number | null): void {
    this.oldestPendingAge.set(ageMs === null ? 0 : Math.max(0, ageMs) / 1000);
  }
}
