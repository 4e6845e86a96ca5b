import { Inject, Injectable } from '@nestjs/common';
import { JobRepository } from './job.repository';
import type { DeadJobSummary } from './interfaces/job-row.interface';
import { JobExecutor } from './worker/job.executor';
import { JobHandlerRegistry } from './discovery/job-handler.registry';
import { limitsOf, type JobLimits } from './limits/job-limits';
import { limitsView, type JobTypeLimits } from './limits/limits-view';
import { JOB_QUEUE_OPTIONS, JOB_TYPE_PATTERN } from './job-queue.constants';
import type { ResolvedJobQueueOptions } from './interfaces/job-queue-options.interface';
import { JobQueueMetrics } from './observability/job-queue.metrics';
import { FinishedJobsPruner } from './control/finished-jobs.pruner';
import { JobCancelTimeoutError, JobValidationError } from './errors/job-queue.errors';
import { messages } from './job-queue.messages';
import {
  JOB_STATES,
  type CancelResult,
  type CancelledRow,
  type JobPage,
  type JobState,
  type ListJobsQuery,
  type PruneResult,
  type QueueSummary,
} from './control/job-control.interface';
import { CANCEL_BATCH } from './sql/cancel-jobs.sql';
import { JobEventDispatcher, jobEventJobOf } from './events/job-event.dispatcher';

export interface QueueStats {
  pending: number;
  processing: number;
  dead: number;
  /** Jobs claimed by this instance and not yet finished (running, or having their end written). */
  inFlight: number;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** The lowest uuid: the `after` of a listing's first page. */
const FIRST_KEY = '00000000-0000-0000-0000-000000000000';
const MAX_PAGE = 1_000;
/** How long a cancel waits for a transactional handler's transaction to roll back once its instance was told. */
const CANCEL_LOCK_TIMEOUT_MS = 5_000;

/**
 * Operator reads and actions: look up a job in any state, list jobs by state with keyset paging, count the
 * queues, pause and resume a queue, cancel jobs, retry a dead or cancelled job, requeue dead jobs, prune.
 */
@Injectable()
export class JobQueueAdmin {
  /** @internal Nest constructs it; the parameters are the library's internals. */
  constructor(
    private readonly repository: JobRepository,
    private readonly executor: JobExecutor,
    private readonly registry: JobHandlerRegistry,
    @Inject(JOB_QUEUE_OPTIONS) private readonly options: ResolvedJobQueueOptions,
    private readonly metrics: JobQueueMetrics,
    private readonly pruner: FinishedJobsPruner,
    private readonly events: JobEventDispatcher,
  ) {}

  /**
   * The job in any state, with its `status`: `pending`, `processing`, `dead`, and with retention on `completed` or
   * `cancelled`; null when no job has that id (or retention pruned it). `run_at` is when it is (or was) due.
   */
  async getJob(id: string): Promise<Record<string, unknown> | null> {
    if (!UUID.test(id)) return null;
    return this.repository.findJobAny(id);
  }

  /**
   * One page of jobs in `state` (of `queue` and `type` when given), in id order after `after`; pass the page's
   * `next` as `after` for the following page. Each page walks the primary key of one table from `after`.
   */
  async listJobs(query: ListJobsQuery): Promise<JobPage> {
    const { state, queue, type, after, limit = 100 } = query;
    if (!JOB_STATES.includes(state)) invalid('state', `must be one of ${JOB_STATES.join(', ')}`);
    if (queue !== undefined) checkName('queue', queue);
    if (type !== undefined) checkName('type', type);
    if (after !== undefined && !UUID.test(after)) invalid('after', 'must be a job id (a uuid)');
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE)
      invalid('limit', `must be an integer from 1 to ${MAX_PAGE}`);
    const jobs = await this.repository.listJobs(state, queue ?? null, type ?? null, after ?? FIRST_KEY, limit);
    return { jobs, next: jobs.length === limit ? String(jobs[jobs.length - 1].id) : null };
  }

  async listDeadJobs(limit = 100): Promise<DeadJobSummary[]> {
    return this.repository.listDead(Math.max(1, Math.min(1_000, Math.floor(limit))));
  }

  /** Moves a dead job back to `jobs` under its id with fresh attempts; null when no dead job has that id. */
  async requeueDeadJob(id: string): Promise<string | null> {
    if (!UUID.test(id)) return null;
    return this.repository.requeueDead(id);
  }

  /**
   * The limits of this app's handlers that have any (`globalConcurrency`, `concurrencyPerKey`, `rateLimit`), each
   * with its running jobs across all instances, per type and per key.
   */
  async listLimits(): Promise<JobTypeLimits[]> {
    const limited: Array<{ type: string; limits: JobLimits }> = [];
    for (const handler of this.registry.all()) {
      const limits = limitsOf(handler.options, handler.name);
      if (limits) limited.push({ type: handler.type, limits });
    }
    if (limited.length === 0) return [];
    return limitsView(limited, await this.repository.countRunningLimited(limited.map((l) => l.type)));
  }

  /**
   * Runs a dead or cancelled job again, under its id, with fresh attempts (a cancelled one only while retention
   * keeps it); null when there is no such job.
   */
  async retryJob(id: string): Promise<string | null> {
    if (!UUID.test(id)) return null;
    return (await this.repository.requeueDead(id)) ?? (await this.repository.retryCancelled(id));
  }

  /** Deletes a dead job for good; false when no dead job has that id (nothing is written then). */
  async deleteDeadJob(id: string): Promise<boolean> {
    if (!UUID.test(id)) return false;
    return this.repository.deleteDead(id);
  }

  async stats(): Promise<QueueStats> {
    const stats: QueueStats = { pending: 0, processing: 0, dead: 0, inFlight: this.executor.size };
    for (const row of await this.repository.countByStatus()) stats[row.status] += row.count;
    return stats;
  }

  /**
   * Every queue with jobs, a pause flag, or served by this instance: whether it is paused and its jobs per state.
   * The counts read the whole of `jobs` and `dead_jobs` (as `stats` does): for an operator, not for a hot path.
   */
  async queues(): Promise<QueueSummary[]> {
    const [counts, flags] = await Promise.all([this.repository.countByStatus(), this.repository.listQueueFlags()]);
    const byName = new Map<string, QueueSummary>();
    const summary = (queue: string) => {
      let entry = byName.get(queue);
      if (!entry) {
        entry = { queue, paused: false, pausedAt: null, pending: 0, processing: 0, dead: 0 };
        byName.set(queue, entry);
      }
      return entry;
    };
    for (const queue of this.options.queues) summary(queue);
    for (const flag of flags) Object.assign(summary(flag.queue), { paused: flag.paused, pausedAt: flag.paused_at });
    for (const row of counts) summary(row.queue)[row.status] += row.count;
    return [...byName.values()].sort((a, b) => a.queue.localeCompare(b.queue));
  }

  /**
   * Pauses a queue on every instance: from the commit of this call, no claim takes a job of it (the claim reads the
   * flag in its own statement). Running jobs finish; producers may still enqueue. Persisted: it outlives restarts.
   */
  async pauseQueue(queue: string): Promise<{ queue: string; paused: boolean }> {
    checkName('queue', queue);
    const flag = await this.repository.setQueuePaused(queue, true);
    return { queue: flag.queue, paused: flag.paused };
  }

  /** Resumes a paused queue; its workers are woken on commit, not at their next poll. */
  async resumeQueue(queue: string): Promise<{ queue: string; paused: boolean }> {
    checkName('queue', queue);
    const flag = await this.repository.setQueuePaused(queue, false);
    return { queue: flag.queue, paused: flag.paused };
  }

  /**
   * Cancels a job: a pending one never runs; a running one has its signal aborted and nothing it does next is
   * written (a transactional handler's transaction rolls back). A cancelled job is neither failed nor dead. With
   * retention on it stays queryable as `cancelled`. Throws `JobCancelTimeoutError` when a transactional handler
   * that ignores its signal still holds the job after the wait (its instance will roll it back; cancel again).
   */
  async cancel(id: string): Promise<CancelResult> {
    if (!UUID.test(id)) return { id, status: 'not-found' };
    const { results, locked } = await this.cancelIds([id]);
    if (locked.length > 0) {
      throw new JobCancelTimeoutError(locked, messages.cancelTimedOut(locked, CANCEL_LOCK_TIMEOUT_MS));
    }
    return results[0];
  }

  /**
   * Cancels every job of `queue` (and `type`) live now, in batches of `batchSize` along the primary key. Returns
   * how many were cancelled, and the ids a transactional handler still held after the wait.
   */
  async cancelMany(filter: {
    queue: string;
    type?: string;
    batchSize?: number;
  }): Promise<{ cancelled: number; stillHeld: string[] }> {
    const { queue, type, batchSize = CANCEL_BATCH } = filter;
    checkName('queue', queue);
    if (type !== undefined) checkName('type', type);
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > CANCEL_BATCH) {
      invalid('batchSize', `must be an integer from 1 to ${CANCEL_BATCH}`);
    }
    let after = FIRST_KEY;
    let cancelled = 0;
    const stillHeld: string[] = [];
    for (;;) {
      const ids = await this.repository.findCancelBatch(queue, type ?? null, after, batchSize);
      if (ids.length === 0) break;
      const { results, locked } = await this.cancelIds(ids);
      cancelled += results.filter((r) => r.status === 'cancelled').length;
      stillHeld.push(...locked);
      after = ids[ids.length - 1];
    }
    return { cancelled, stillHeld };
  }

  /** Deletes the finished and dead jobs past their retention now, as every instance does on its interval. */
  prune(): Promise<PruneResult> {
    return this.pruner.pruneExpired();
  }

  private async cancelIds(ids: string[]): Promise<{ results: CancelResult[]; locked: string[] }> {
    const { cancelled, locked } = await this.repository.cancelJobs(ids, CANCEL_LOCK_TIMEOUT_MS);
    if (cancelled.length > 0) this.afterCancelled(cancelled);
    const done = new Set(cancelled.map((r) => r.id));
    const held = new Set(locked);
    const rest = ids.filter((id) => !done.has(id) && !held.has(id));
    const finished = rest.length > 0 ? await this.repository.findFinishedStatus(rest) : new Map<string, JobState>();
    const results = ids
      .filter((id) => !held.has(id))
      .map((id): CancelResult => {
        if (done.has(id)) return { id, status: 'cancelled' };
        const state = finished.get(id);
        if (state === 'completed' || state === 'cancelled' || state === 'dead') {
          return { id, status: 'already-finished', state };
        }
        return { id, status: 'not-found' };
      });
    return { results, locked };
  }

  /**
   * Runs once the cancellation of `jobs` is committed, on the instance that cancelled them. Job event hooks are
   * dispatched here (the `cancelled` event), next to the metric.
   */
  private afterCancelled(jobs: CancelledRow[]): void {
    this.metrics.jobsCancelled(jobs);
    this.events.dispatch(
      'cancelled',
      jobs.map((row) => jobEventJobOf(row)),
    );
  }
}

function invalid(field: string, reason: string): never {
  throw new JobValidationError(field, messages.invalidControlInput(field, reason));
}

function checkName(field: 'queue' | 'type', value: unknown): void {
  if (typeof value !== 'string' || !JOB_TYPE_PATTERN.test(value)) {
    invalid(field, `must match ${JOB_TYPE_PATTERN.source}, got ${JSON.stringify(value)}`);
  }
}
