import { Inject, Injectable, Logger } from '@nestjs/common';
import {
  JobRepository,
  type ClaimedJob,
  type JobTransactionResult,
  type Kill,
  type Lease,
  type ProgressWrite,
  type Retry,
  type Snooze,
} from '../job.repository';
import { JobHandlerRegistry } from '../discovery/job-handler.registry';
import { JobCancelledError, JobTimeoutError, JobValidationError, SnoozeJob } from '../errors/job-queue.errors';
import { JobEventDispatcher } from '../events/job-event.dispatcher';
import type { JobEventJob } from '../interfaces/job-event.interface';
import { serialiseJson } from '../producer/job-input.validator';
import { ProgressThrottle } from './progress-throttle';
import { waitUntilIdle } from './wait-until-idle';
import { JOB_QUEUE_OPTIONS } from '../job-queue.constants';
import { messages } from '../job-queue.messages';
import type { ResolvedJobQueueOptions } from '../interfaces/job-queue-options.interface';
import { JobQueueMetrics, type AttemptOutcome } from '../observability/job-queue.metrics';
import { JobQueueTracing } from '../tracing/job-queue.tracing';
import { RetryDelays } from './retry-delays';
import { BatchedWriter, type Taken } from './batched-writer';
import { JobExecution } from './job-execution';
import { AttemptContext, type ProgressReporter } from './attempt-context';
import { UNTRACED_ATTEMPT } from '../tracing/attempt-trace';
import { TransactionSlots } from './transaction-slots';
import { RecentCancels } from './recent-cancels';
import { decideFailure, errorMessage, type FailureDecision, type WrittenDecision } from './failure-decision';

/**
 * Connections of the pool that transactional jobs never take all of: the heartbeat that renews their leases, the
 * claim and the finish writers always find one.
 */
const CONNECTIONS_RESERVED = 2;

type SlotListener = () => void;

/** How long a cancelled transactional handler may keep its transaction before its session is ended. */
const CANCEL_GRACE_MS = 1_000;

/**
 * The bounded executor: runs claimed jobs, at most `concurrency` at once (and at most a handler's own concurrency
 * per type), and writes each attempt's end, fenced by its lock token. It never claims; the poller asks it how many
 * jobs it can take (the free slots, plus room in the local queue when `prefetch` is set) and hands it that many.
 */
@Injectable()
export class JobExecutor {
  private readonly logger = new Logger('JobQueue');
  /**
   * Every attempt from claim until its end is written (or given up at shutdown). A job recovered elsewhere and
   * claimed here again is a second attempt, while the first may not have settled yet: attempts are tracked as
   * themselves, not by job id. (Not by a key of id and token either: building and hashing that string twice per job
   * cost more than the rest of the bookkeeping.)
   */
  private readonly inFlight = new Set<JobExecution>();
  /**
   * The newest attempt of each job id in flight. An older attempt of the same job lost its lease when the newer was
   * claimed (`accept`), so the newest is the only one a lease, a cancel or a loss can still concern.
   */
  private readonly latest = new Map<string, JobExecution>();
  /** Attempts whose handler has not settled yet: what concurrency limits. */
  private running = 0;
  /**
   * Counts by type, keyed by the registered handler's `type`: one string for every job of a type, whose hash V8
   * computes once, where each claimed row brings a string of its own.
   */
  private readonly runningByType = new Map<string, number>();
  /** Claimed jobs waiting for a slot, oldest first. Only a claim with `prefetch` returns more than the free slots. */
  private readonly queued: JobExecution[] = [];
  private readonly queuedByType = new Map<string, number>();
  private readonly handlerLoggers = new Map<string, Logger>();
  private readonly completions: BatchedWriter<Lease>;
  private readonly retries: BatchedWriter<Retry>;
  private readonly kills: BatchedWriter<Kill>;
  private readonly snoozes: BatchedWriter<Snooze>;
  private readonly progressWrites: BatchedWriter<ProgressWrite>;
  private readonly idle = new Set<() => void>();
  /** Set when shutdown begins: jobs still queued are released, never started. */
  private closing = false;
  /** Jobs handed back to `pending` by shutdown's abort, by this executor or by their own aborted attempt. */
  private releasedAtShutdown = 0;
  private slotListener: SlotListener = () => undefined;
  /** A microtask will set the in-flight gauge (see `inFlightChanged`). */
  private inFlightGaugeDue = false;
  /**
   * Local-queue starts allowed in one turn of the event loop. Handlers that never wait for I/O (or finish fast)
   * settle in microtasks, and each settle starts the next queued job: without a limit the whole local queue runs
   * in one turn, during which no I/O is read or sent. The claim wanted at half the queue then leaves only once the
   * queue is empty, and the worker alternates with the database instead of overlapping it (a drain of no-op jobs
   * at prefetch 500: 34k jobs/s in one turn against 38–40k with 64–256 starts a turn, `bench/drain-timeline.js`).
   * A quarter of the local queue: the claim leaves while a quarter is still queued. Never fewer than 64, so that a
   * small queue does not pay a turn for every few jobs.
   */
  private readonly startsPerTurn: number;
  private startsThisTurn = 0;
  private turnEndScheduled = false;
  private retryListener: (delayMs: number) => void = () => undefined;
  private readonly delays: RetryDelays;
  private readonly transactionSlots: TransactionSlots;
  /** Cancels told for jobs not here (yet): a claim on its way may bring one (`accept`). */
  private readonly recentCancels = new RecentCancels();
  /** `ctx.progress` of every attempt: one function for the executor, not one per job. */
  private readonly progressReporter: ProgressReporter = (execution, value) => this.reportProgress(execution, value);

  constructor(
    @Inject(JOB_QUEUE_OPTIONS) private readonly options: ResolvedJobQueueOptions,
    private readonly repository: JobRepository,
    private readonly registry: JobHandlerRegistry,
    private readonly metrics: JobQueueMetrics,
    private readonly events: JobEventDispatcher,
    private readonly tracing: JobQueueTracing,
  ) {
    this.startsPerTurn = Math.max(64, Math.ceil(options.prefetch / 4));
    const onError = (what: string) => (error: unknown, attempt: number) =>
      this.logger.warn(`Writing ${what} failed (try ${attempt}), will retry: ${(error as Error).message}`);
    this.completions = new BatchedWriter(
      (l) => repository.completeMany(l),
      options.completionBatchDelayMs,
      onError('completions'),
    );
    this.retries = new BatchedWriter(
      (r) => repository.retryMany(r),
      options.completionBatchDelayMs,
      onError('retries'),
    );
    this.kills = new BatchedWriter(
      (k) => repository.killMany(k),
      options.completionBatchDelayMs,
      onError('dead letters'),
    );
    this.snoozes = new BatchedWriter(
      (s) => repository.snoozeMany(s),
      options.completionBatchDelayMs,
      onError('snoozes'),
    );
    this.progressWrites = new BatchedWriter(
      (p) => repository.writeProgress(p),
      options.completionBatchDelayMs,
      onError('progress'),
    );
    metrics.concurrency.set(options.concurrency);
    this.delays = new RetryDelays(options, this.logger);
    const poolMax = () => (repository.pool as unknown as { options: { max?: number } }).options.max ?? 10;
    this.transactionSlots = new TransactionSlots(poolMax, CONNECTIONS_RESERVED);
  }

  /** Called whenever a slot frees, so the poller can claim again. */
  onSlotFreed(listener: SlotListener): void {
    this.slotListener = listener;
  }

  /** Called when a retry is written, with its delay, so the poller can wake when it is due. */
  onRetryWritten(listener: (delayMs: number) => void): void {
    this.retryListener = listener;
  }

  get size(): number {
    return this.inFlight.size;
  }

  /**
   * How many jobs a claim may return now: the free slots, plus the room left in the local queue (`prefetch`).
   * A slot frees when its handler settles, not when its end is written: the next claim then overlaps the previous
   * batch's completion write, on another connection, instead of waiting for it. At most `concurrency + prefetch`
   * settled attempts may wait for their write (one claim's worth), so a slow database still holds the claims back.
   */
  claimable(): number {
    const capacity = this.options.concurrency + this.options.prefetch;
    const unwrittenRoom = 2 * capacity - this.inFlight.size;
    return Math.max(0, Math.min(capacity - this.running - this.queued.length, unwrittenRoom));
  }

  /** What a claim of a handler with its own concurrency may return: never more than that type can run now. */
  claimableFor(type: string, handlerConcurrency: number): number {
    const taken = (this.runningByType.get(type) ?? 0) + (this.queuedByType.get(type) ?? 0);
    return Math.min(this.claimable(), Math.max(0, handlerConcurrency - taken));
  }

  /**
   * Whether a freed slot is worth a claim. Without `prefetch`, always; with it, once the local queue is down to
   * half, so that claims come in large batches while the queue keeps the slots busy.
   */
  wantsClaim(): boolean {
    return this.queued.length <= this.options.prefetch / 2 && this.claimable() > 0;
  }

  /**
   * Leases the heartbeat renews: every attempt waiting or running, but transactional ones while their transaction
   * holds the row, which is then the lease. A transactional job still waiting for its connection is renewed: it
   * has not used its lease yet.
   */
  renewableLeases(): Lease[] {
    const leases: Lease[] = [];
    for (const execution of this.inFlight) {
      if (!execution.released && execution.backend === null) leases.push(execution.lease);
    }
    return leases;
  }

  /**
   * The heartbeat found these leases taken over: abort their handlers, whose results will be discarded; a job
   * still in the local queue is dropped without running. Matched by id and token, never by id alone: a newer
   * attempt of the same job, claimed since the heartbeat read its leases, holds its own lease. (An older attempt
   * than the newest lost its lease already, when the newest was claimed.)
   */
  leasesLost(leases: Iterable<Lease>): void {
    for (const { id, token } of leases) {
      const execution = this.latest.get(id);
      if (execution && execution.job.lock_token === token) this.loseLease(execution, 'heartbeat');
    }
  }

  /**
   * These jobs were cancelled (the canceller's NOTIFY): a job still in the local queue is dropped without starting,
   * a running one has its signal aborted, and whatever its handler does next is not written (a transactional one's
   * transaction rolls back). Matched by id: a cancel ends every attempt of the job. A job not here is remembered a
   * while: the cancel may have deleted a row claimed here whose claim has not returned yet.
   */
  cancel(ids: Iterable<string>): void {
    for (const id of ids) {
      const execution = this.latest.get(id);
      if (!execution) {
        this.recentCancels.add(id);
        continue;
      }
      if (execution.cancelled) continue;
      execution.cancelled = true;
      // Settled already: its write finds the row gone, and is counted as cancelled rather than as a lost lease.
      if (execution.finishing) continue;
      if (this.unqueue(execution)) this.finish(execution, 'cancelled');
      else {
        execution.abort('cancelled', new JobCancelledError(messages.jobCancelled(id)));
        if (execution.backend) this.endCancelledTransaction(execution);
      }
    }
  }

  /**
   * A cancelled transactional handler holds its row, and the cancel waits for it: one that has not ended its
   * transaction within `CANCEL_GRACE_MS` of its abort (it ignores its signal) has its session ended, as shutdown
   * does, so the transaction rolls back now and the cancel completes. Its handler then fails or returns; either
   * way nothing is written.
   */
  private endCancelledTransaction(execution: JobExecution): void {
    const backend = execution.backend!;
    const timer = setTimeout(() => {
      if (execution.backend !== backend || execution.finishing) return;
      this.repository.terminateBackends([backend]).catch((error) => {
        this.logger.warn(`Could not end the transaction of cancelled job ${execution.job.id}: ${errorMessage(error)}`);
      });
    }, CANCEL_GRACE_MS);
    timer.unref();
  }

  private loseLease(execution: JobExecution, step: string): void {
    if (execution.finishing || execution.cancelled) return;
    this.countLeaseLoss(execution, step);
    if (this.unqueue(execution)) this.finish(execution, 'lease_lost');
    else execution.abort('lease_lost', new Error('lease lost'));
  }

  /** Takes a claimed job: it starts now if a slot is free, else it waits in the local queue for one. */
  accept(job: ClaimedJob): void {
    const handler = this.registry.get(job.type);
    if (!handler) throw new Error(messages.noHandler(job.type));
    const execution = new JobExecution(job, handler, handler.options.maxSnoozes ?? this.options.maxSnoozes);
    // The job is claimed again while an earlier attempt of it is still here: the claim proves that attempt's lease
    // was lost (the row carries a new token). Both stay tracked; the older one is aborted and its result discarded.
    const earlier = this.latest.get(job.id);
    if (earlier) this.loseLease(earlier, 'new claim');
    this.latest.set(job.id, execution);
    this.inFlight.add(execution);
    this.inFlightChanged();
    if (this.recentCancels.take(job.id)) return this.dropCancelled(execution);
    this.queued.push(execution);
    increment(this.queuedByType, handler.type, 1);
    this.startQueued();
  }

  /**
   * A job whose cancel was told before its claim returned it: the cancel deleted the row after the claim committed,
   * so it is dropped unstarted, as a cancelled job still in the local queue is. The release, fenced by this claim's
   * token, then finds no row. It matters only when the cancel was of an earlier life of the job, retried under its
   * id since and claimed here: that one goes back to pending, its attempt refunded, and its next claim runs it.
   */
  private dropCancelled(execution: JobExecution): void {
    execution.cancelled = true;
    // Not renewed, not started, not released again by shutdown: its one write is the release below.
    execution.released = true;
    this.settle(execution);
    this.repository
      .releaseMany([execution.lease])
      .catch((error) => this.logger.warn(messages.endNotRecorded(execution.job.id, errorMessage(error))))
      .finally(() => this.finish(execution, 'cancelled'));
  }

  /**
   * Shutdown begins: from now on no queued job starts, whether a slot frees or a claim already sent returns more
   * jobs; they wait for `releaseQueued`.
   */
  stopStarting(): void {
    this.closing = true;
  }

  /**
   * Shutdown's first step: jobs still waiting in the local queue go back to pending at once, their attempt
   * refunded (they never ran), for other instances to take now rather than after this one's drain.
   */
  async releaseQueued(): Promise<number> {
    const waiting = this.queued.splice(0);
    this.queuedByType.clear();
    if (waiting.length === 0) return 0;
    for (const execution of waiting) execution.released = true;
    try {
      return (await this.release(waiting)).size;
    } finally {
      for (const execution of waiting) this.finish(execution, 'released');
    }
  }

  /** Completions waiting to be written, handed to the claim loop so it writes them with its next claim. */
  takeCompletions(): Taken<Lease> {
    return this.completions.take();
  }

  /** The claim wrote these completions: `held` are the ids whose lease held. */
  completionsWritten(taken: Taken<Lease>, held: Set<string>): void {
    this.completions.settle(taken, held);
  }

  /** The claim that carried these completions failed: write them the usual way. */
  completionsNotWritten(taken: Taken<Lease>): void {
    this.completions.giveBack(taken);
  }

  /** Resolves when nothing is in flight, or after `timeoutMs`; true when drained. */
  async drain(timeoutMs: number): Promise<boolean> {
    if (this.inFlight.size === 0) return true;
    return waitUntilIdle(this.idle, () => this.inFlight.size === 0, timeoutMs);
  }

  /**
   * Shutdown's last step for jobs that outlived the drain: abort their handlers, give them `graceMs` to settle
   * (a settled, aborted attempt releases its own job), then release the rest at once so another instance takes
   * them now instead of after their lease.
   */
  async abortAndRelease(graceMs: number): Promise<number> {
    const before = this.releasedAtShutdown;
    const releasedNow = () => this.releasedAtShutdown - before;
    for (const execution of this.inFlight.values()) {
      execution.abort('shutdown', new Error(messages.shutdownAborted()));
    }
    if (await this.drain(graceMs)) return releasedNow();
    // A transactional handler that ignores its signal keeps its transaction, and so its row lock: end that session,
    // so the row can be released now rather than when the pool closes. Only transactions still open are ended (the
    // statement checks that each backend still runs the transaction it began for its job), and their jobs are
    // released however their handlers end.
    const holding = [...this.inFlight.values()].filter((e) => e.backend !== null);
    if (holding.length > 0) {
      for (const execution of holding) execution.terminated = true;
      await this.repository.terminateBackends(holding.flatMap((e) => (e.backend ? [e.backend] : [])));
      if (await this.drain(graceMs)) return releasedNow();
    }
    const stuck = [...this.inFlight.values()].filter((e) => !e.finishing);
    for (const execution of stuck) execution.released = true;
    this.releasedAtShutdown += (await this.release(stuck)).size;
    for (const execution of stuck) this.finish(execution, 'released');
    return releasedNow();
  }

  /**
   * Hands these attempts' jobs back to `pending` (`releaseMany`, which waits a moment for a row someone holds), and
   * says which it could not: a row still under this lease but held past that wait stays `processing` until its lease
   * expires, as after a crash. Returns the ids released; only those count as released.
   */
  private async release(executions: JobExecution[]): Promise<Set<string>> {
    const leases = executions.map((e) => e.lease);
    const released = await this.repository.releaseMany(leases);
    if (released.size < leases.length) {
      const unreleased = leases.filter((l) => !released.has(l.id));
      // Rows cancelled or recovered meanwhile are no longer this instance's to release: only the others are told.
      const held = await this.repository.findHeldLeases(unreleased).catch(() => new Set(unreleased.map((l) => l.id)));
      if (held.size > 0) this.logger.warn(messages.releaseLeftToLease([...held]));
    }
    return released;
  }

  /** Fails writes that can no longer happen; the last step of shutdown. */
  stop(): void {
    const reason = new Error('job queue stopped');
    this.completions.stop(reason);
    this.retries.stop(reason);
    this.kills.stop(reason);
    this.snoozes.stop(reason);
    this.progressWrites.stop(reason);
  }

  private async run(execution: JobExecution): Promise<void> {
    const { job } = execution;
    const ctx = this.context(execution);
    try {
      if (execution.transactional) {
        await this.runInTransaction(execution, ctx);
      } else {
        this.startTimeout(execution);
        execution.result = await this.raceAbort(execution, ctx);
        // A snooze the handler asked for stands even when it caught the SnoozeJob and returned.
        if (execution.snoozeRequested !== null) throw new SnoozeJob(execution.snoozeRequested);
        this.settle(execution);
        this.succeed(execution);
      }
    } catch (error) {
      execution.trace.failed(error);
      this.settle(execution);
      await this.fail(execution, error).catch((writeError) => {
        this.logger.error(messages.endNotRecorded(job.id, errorMessage(writeError)));
        this.finish(execution, 'released');
      });
    } finally {
      if (execution.timeout !== undefined) clearTimeout(execution.timeout);
    }
  }

  /** Arms the handler's timeout, if it has one: the signal is aborted when it passes. */
  private startTimeout(execution: JobExecution): void {
    const timeoutMs = execution.handler.options.timeoutMs;
    if (timeoutMs === undefined) return;
    execution.timeout = setTimeout(
      () => execution.abort('timeout', new JobTimeoutError(messages.timedOut(timeoutMs))),
      timeoutMs,
    );
  }

  /**
   * A transactional attempt: waits for a connection (its lease renewed meanwhile, its timeout not running), runs
   * the handler in the transaction that holds its row, and writes a failure in that same transaction. No race
   * here: the transaction may end only once the handler has settled. Rolled back under a handler still running,
   * its next query on ctx.manager would run outside the transaction and commit on its own.
   */
  private async runInTransaction(execution: JobExecution, ctx: AttemptContext): Promise<void> {
    const { job, handler } = execution;
    const releaseSlot = await this.transactionSlots.acquire(execution);
    let result: JobTransactionResult;
    let written: WrittenDecision | undefined;
    try {
      result = await this.repository.inJobTransaction(
        execution.lease,
        async (manager) => {
          // A job that waited for its connection past an abort does not start its handler at all.
          if (execution.abortReason) throw execution.abortReason;
          const txCtx = new AttemptContext(execution, this.progressReporter, ctx.logger, manager);
          execution.result = await execution.trace.run(() => handler.run(job.payload, txCtx));
          // As outside a transaction; thrown here, the snooze rolls the work back and is written in its place.
          if (execution.snoozeRequested !== null) throw new SnoozeJob(execution.snoozeRequested);
          // What the completion in this transaction keeps in `finished_jobs` when retention is on.
          return execution.result;
        },
        {
          onLocked: (backend) => {
            execution.backend = backend;
            this.startTimeout(execution);
          },
          onUnlocked: () => (execution.backend = null),
          cancelled: () => execution.cancelled,
          onFailure: (error) => {
            execution.trace.failed(error);
            const decision = this.decideFailure(execution, error);
            if (decision.outcome === 'lease_lost') return null;
            written = decision;
            return decision.end;
          },
        },
      );
    } finally {
      releaseSlot();
    }
    this.settle(execution);
    if (result.status === 'cancelled' || (result.status === 'lost' && execution.cancelled)) {
      return this.finish(execution, 'cancelled');
    }
    if (result.status === 'lost') return this.finish(execution, this.leaseLost(execution, 'transaction start'));
    if (result.status === 'completed') {
      this.finish(execution, 'completed');
      return this.emit('completed', execution);
    }
    // The failure's end was written with the rollback, the row locked throughout: it held.
    this.report(execution, written!, true);
  }

  /**
   * Settles when the handler does or when its signal is aborted, whichever comes first: a handler that ignores its
   * signal cannot hold a slot past its timeout or a lease loss (its late result is discarded or fenced).
   */
  private raceAbort(execution: JobExecution, ctx: AttemptContext): Promise<unknown> {
    return new Promise((resolve, reject) => {
      if (execution.abortReason) return reject(execution.abortReason);
      execution.onAbort = reject;
      // Started here rather than a microtask later: a handler that throws before it returns rejects this promise
      // (the executor function's throw), and one that returns a value rather than a promise resolves it.
      const { handler, job, trace } = execution;
      const returned =
        trace === UNTRACED_ATTEMPT ? handler.run(job.payload, ctx) : trace.run(() => handler.run(job.payload, ctx));
      if (returned instanceof Promise) returned.then(resolve, reject);
      else resolve(returned);
    });
  }

  /** Submits the completion of an attempt whose handler succeeded; `completionWritten` or `…NotWritten` ends it. */
  private succeed(execution: JobExecution): void {
    if (execution.released) return;
    if (execution.cancelled) return this.finish(execution, 'cancelled');
    if (execution.abortCause === 'lease_lost') return this.finish(execution, 'lease_lost');
    // The row is about to be deleted: a progress value still waiting is of no use.
    void execution.progress?.close(false);
    // The result goes with the lease only when retention keeps it; else the lease itself is the item (one object
    // less per job).
    const item = this.repository.keepsFinished ? { ...execution.lease, result: execution.result } : execution.lease;
    this.completions.submitFor(item, execution, this.completionWritten, this.completionNotWritten);
  }

  /** Called by the completion writer (or the claim that carried it) for each completion: never throws into it. */
  private readonly completionWritten = (execution: JobExecution, held: boolean): void => {
    try {
      this.finish(execution, held ? 'completed' : this.notHeld(execution, 'completion'));
      if (held) this.emit('completed', execution);
    } catch (error) {
      this.logger.error(messages.endNotRecorded(execution.job.id, errorMessage(error)));
    }
  };

  /**
   * A stopped writer (shutdown gave up on the database) or a row the database refused: the job stays processing
   * until its lease expires, and the rescuer hands it out again.
   */
  private readonly completionNotWritten = (execution: JobExecution, error: unknown): void => {
    const { job } = execution;
    this.logger.error(messages.completionNotWritten(job.id, job.type, job.attempt_count, errorMessage(error)));
    this.finish(execution, 'released');
  };

  private async fail(execution: JobExecution, error: unknown): Promise<void> {
    if (execution.released) return;
    const decision = this.decideFailure(execution, error);
    if (decision.outcome === 'lease_lost')
      return this.finish(execution, execution.cancelled ? 'cancelled' : 'lease_lost');
    // The last progress value goes before the end, whose write clears the lease the progress write is fenced by.
    await execution.progress?.close(true);
    let held: boolean;
    if (decision.outcome === 'snoozed') {
      held = await this.snoozes.submit(decision.end.snooze);
    } else if (decision.outcome === 'released') {
      execution.released = true;
      held = (await this.release([execution])).size === 1;
    } else if (decision.outcome === 'dead') {
      held = await this.kills.submit(decision.end.kill);
    } else {
      held = await this.retries.submit(decision.end.retry);
    }
    this.report(execution, decision, held);
  }

  /** How this failed attempt ends (`decideFailure`), its backoff computed only for a retry. */
  private decideFailure(execution: JobExecution, error: unknown): FailureDecision {
    const { job, handler } = execution;
    return decideFailure(execution, error, () =>
      this.delays.delayMs(job.type, handler.options.backoff, job.attempt_count, error),
    );
  }

  /** Counts, logs and forgets a failed attempt once its end is written; `held` says whether its lease held. */
  private report(execution: JobExecution, decision: WrittenDecision, held: boolean): void {
    const { job } = execution;
    if (decision.outcome === 'released') {
      if (held) this.releasedAtShutdown += 1;
      return this.finish(execution, 'released');
    }
    if (!held) {
      const step = decision.outcome === 'dead' ? 'dead letter' : 'retry';
      return this.finish(execution, this.notHeld(execution, step));
    }
    if (decision.outcome === 'snoozed') {
      // Like a retry: the poller wakes when the snoozed job is due, not at its next poll.
      this.retryListener(decision.delayMs);
      return this.finish(execution, 'snoozed');
    }
    if (decision.outcome === 'postponed') {
      this.logger.warn(messages.jobPostponed(job.id, job.type, job.attempt_count, decision.delayMs, decision.message));
      return this.finish(execution, 'released');
    }
    if (decision.outcome === 'dead') {
      this.logger.warn(
        messages.jobDeadLettered(job.id, job.type, job.attempt_count, job.max_attempts, decision.message),
      );
      this.finish(execution, 'dead');
      return this.emit('dead', execution, decision.message);
    }
    this.logger.warn(
      messages.jobRetrying(job.id, job.type, job.attempt_count, job.max_attempts, decision.delayMs, decision.message),
    );
    this.retryListener(decision.delayMs);
    this.finish(execution, 'retried');
    this.emit('failed', execution, decision.message);
  }

  /** Hands a committed outcome to the `@OnJobEvent` hooks; nothing is built when none listens. */
  private emit(event: 'completed' | 'failed' | 'dead', execution: JobExecution, error?: string): void {
    const { job } = execution;
    if (!this.events.listens(event, job.type)) return;
    const data: JobEventJob = {
      id: job.id,
      type: job.type,
      queue: job.queue,
      payload: job.payload,
      attempt: job.attempt_count,
      maxAttempts: job.max_attempts,
    };
    if (error !== undefined) data.error = error;
    if (event === 'completed' && execution.result !== undefined) data.result = execution.result;
    this.events.dispatch(event, [data]);
  }

  /** A fenced write found the row gone: cancelled (the canceller said so), else a lost lease. */
  private notHeld(execution: JobExecution, step: string): AttemptOutcome {
    return execution.cancelled ? 'cancelled' : this.leaseLost(execution, step);
  }

  private leaseLost(execution: JobExecution, step: string): AttemptOutcome {
    this.countLeaseLoss(execution, step);
    return 'lease_lost';
  }

  private countLeaseLoss(execution: JobExecution, step: string): void {
    if (execution.leaseLossCounted) return;
    execution.leaseLossCounted = true;
    const { job } = execution;
    this.metrics.leaseLost(job);
    this.logger.warn(messages.leaseLost(job.id, job.type, job.attempt_count, step));
  }

  /**
   * The in-flight gauge follows the map, set once per turn of the event loop rather than at every accept and finish
   * (twice per job): a batch of claims or completions moves it once. A microtask: set before any other code (a scrape)
   * can read it.
   */
  private inFlightChanged(): void {
    if (this.inFlightGaugeDue) return;
    this.inFlightGaugeDue = true;
    queueMicrotask(() => {
      this.inFlightGaugeDue = false;
      this.metrics.inFlight.set(this.inFlight.size);
    });
  }

  /** Starts queued jobs, oldest first, while slots are free; a type at its own limit lets later types pass. */
  private startQueued(): void {
    if (this.closing) return;
    for (let i = 0; i < this.queued.length && this.running < this.options.concurrency;) {
      // The turn's end, scheduled at its first start, starts the rest.
      if (this.startsThisTurn >= this.startsPerTurn) return;
      const execution = this.queued[i];
      const limit = execution.handler.options.concurrency;
      if (limit !== undefined && (this.runningByType.get(execution.handler.type) ?? 0) >= limit) {
        i += 1;
        continue;
      }
      this.queued.splice(i, 1);
      increment(this.queuedByType, execution.handler.type, -1);
      if (this.startsThisTurn++ === 0) this.resumeNextTurn();
      this.begin(execution);
    }
  }

  /** Ends the turn's count at the next turn (once a turn), and starts what the limit held back then. */
  private resumeNextTurn(): void {
    if (this.turnEndScheduled) return;
    this.turnEndScheduled = true;
    setImmediate(() => {
      this.turnEndScheduled = false;
      this.startsThisTurn = 0;
      this.startQueued();
    });
  }

  private begin(execution: JobExecution): void {
    const { job } = execution;
    execution.startedAt = performance.now();
    this.running += 1;
    increment(this.runningByType, execution.handler.type, 1);
    const waitSeconds = (job.claimed_at_ms - job.created_at_ms) / 1000 + execution.queuedSeconds();
    this.metrics.attemptStarted(job, waitSeconds);
    execution.trace = this.tracing.attemptStarted(job);
    void this.run(execution);
  }

  /** Removes a job from the local queue; false when it was not there (it has started). */
  private unqueue(execution: JobExecution): boolean {
    const index = this.queued.indexOf(execution);
    if (index < 0) return false;
    this.queued.splice(index, 1);
    increment(this.queuedByType, execution.handler.type, -1);
    return true;
  }

  /** The handler has settled (or is given up on): its slot goes to a queued job, or is free for a claim; once. */
  private settle(execution: JobExecution): void {
    if (execution.finishing) return;
    execution.finishing = true;
    if (execution.started) {
      this.running -= 1;
      increment(this.runningByType, execution.handler.type, -1);
      this.startQueued();
    }
    this.slotListener();
  }

  /** Records the attempt's outcome once its end is written, and forgets it. */
  private finish(execution: JobExecution, outcome: AttemptOutcome): void {
    const { job } = execution;
    if (!this.inFlight.has(execution)) return;
    this.settle(execution);
    // Whatever the end, no progress timer outlives the attempt (a waiting value was written before a failure's end).
    void execution.progress?.close(false);
    this.inFlight.delete(execution);
    if (this.latest.get(job.id) === execution) this.latest.delete(job.id);
    this.inFlightChanged();
    // A job released or lost from the local queue never ran: it is no attempt to time or count.
    if (execution.started) this.metrics.attemptFinished(job, outcome, execution.elapsedSeconds());
    execution.trace.finished(outcome);
    if (this.inFlight.size === 0) for (const onIdle of [...this.idle]) onIdle();
    this.slotListener();
  }

  /**
   * `ctx.progress`: checked at once (a typed error for a value that is not JSON or too large, nothing written), then
   * written throttled through the progress writer, fenced by the attempt's lease. A transactional handler's row is
   * held by its own transaction until the job is deleted, so nobody could read its progress: refused.
   */
  private reportProgress(execution: JobExecution, value: unknown): void {
    if (execution.transactional)
      throw new JobValidationError('progress', messages.invalidField('progress', messages.progressInTransaction()));
    const json = serialiseJson(value, '', 'progress');
    const bytes = Buffer.byteLength(json, 'utf8');
    const max = this.options.maxProgressBytes;
    if (bytes > max)
      throw new JobValidationError(
        'progress',
        messages.invalidField('progress', messages.progressTooLarge(bytes, max)),
      );
    if (execution.finishing || execution.abortReason) return;
    if (!execution.progress) {
      const lease = execution.lease;
      execution.progress = new ProgressThrottle(this.options.progressIntervalMs, (text) =>
        this.progressWrites.submit({ ...lease, json: text }),
      );
    }
    execution.progress.report(json);
  }

  private context(execution: JobExecution): AttemptContext {
    const { type } = execution.job;
    let logger = this.handlerLoggers.get(type);
    if (!logger) this.handlerLoggers.set(type, (logger = new Logger(`Job:${type}`)));
    return new AttemptContext(execution, this.progressReporter, logger);
  }
}

function increment(counts: Map<string, number>, key: string, by: number): void {
  counts.set(key, (counts.get(key) ?? 0) + by);
}
