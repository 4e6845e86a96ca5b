import { Inject, Injectable, Logger } from '@nestjs/common';
import { ClaimAfterCompletionsError, JobRepository, type ClaimCursor } from '../job.repository';
import { JobHandlerRegistry } from '../discovery/job-handler.registry';
import { JOB_QUEUE_OPTIONS } from '../job-queue.constants';
import type { ResolvedJobQueueOptions } from '../interfaces/job-queue-options.interface';
import { JobQueueMetrics } from '../observability/job-queue.metrics';
import { JobExecutor } from './job.executor';
import { cursorAfter } from './claim-cursor';
import { limitsOf, type JobLimits } from '../limits/job-limits';

/** The most the loop waits after consecutive database errors before it tries again. */
const MAX_ERROR_BACKOFF_MS = 30_000;

/**
 * A due timer fires this long after the due time it was computed for: the time came from the database's clock
 * through a round trip, and a claim a hair early finds nothing and waits for the next poll.
 */
const DUE_MARGIN_MS = 1;

/** Claims remembered for the health indicator's view of how long a claim takes now. */
const RECENT_CLAIMS = 32;

interface ClaimGroup {
  types: string[];
  /** A handler's own concurrency, when the group is that one type. */
  concurrency?: number;
  /** Where the next claim starts, while claims come back full (see `claim-available.sql.ts`). */
  cursor?: ClaimCursor;
  /** `Date.now()` of the group's last claim walked from the head. */
  fromHeadAt: number;
  /** The type's limits across instances: the group is that one type, claimed by `claimLimited`. */
  limits?: JobLimits;
  /** A rate limit's window has room again then: the group claims at that time rather than polling. */
  rateTimer?: NodeJS.Timeout;
  /**
   * The group's last claim returned a full batch: there is probably more, so a freed slot it can use should claim
   * at once. The group's own: another group's claim says nothing of this one's backlog.
   */
  saturated: boolean;
  /** The group's last claim (a limited group's) left due jobs waiting on a limit: a freed slot may let one start. */
  limitHeld: boolean;
}

/**
 * The claim loop. Woken by NOTIFY, by the poll interval and by freed slots, it claims exactly as many jobs as the
 * executor can take (its free slots, plus room in its local queue with `prefetch`), and claims again at once while
 * claims come back full. While the executor can take nothing it does not query at all (backpressure). Database
 * errors back it off exponentially; it never throws and never spins.
 */
@Injectable()
export class JobPoller {
  private readonly logger = new Logger('JobQueue');
  private running = false;
  private again = false;
  private stopped = true;
  private consecutiveErrors = 0;
  private backoffTimer: NodeJS.Timeout | undefined;
  private wakeScheduled = false;
  /** Wakes the loop when the earliest job known not yet due becomes due (see `wakeIn`). */
  private dueTimer: NodeJS.Timeout | undefined;
  /** `performance.now()` the due timer fires at; Infinity when none is set. */
  private dueAt = Number.POSITIVE_INFINITY;
  /**
   * A wake-up from outside (NOTIFY, poll tick, due timer, start) came since the last next-due probe. Only those can
   * bring news of jobs due later; the wake-ups of freed slots under load would repeat the probe for nothing.
   */
  private probeWanted = true;
  /** The loop under way, if any: shutdown waits for its claim to return before it counts what is in flight. */
  private current: Promise<void> = Promise.resolve();
  private groups: ClaimGroup[] = [];
  /** `Date.now()` of the last loop run, for the health indicator: a stuck event loop stops it. */
  lastTickAt = 0;
  /**
   * `Date.now()` the claim statements under way were sent at, 0 when none is: a claim waiting on a lock or on a
   * dead connection stops the loop while the poll interval still ticks, so the ticks alone would not show it.
   */
  private claimingSince = 0;
  /** The last claims' end times and durations (ms), oldest first, for `recentClaimMs`. */
  private readonly recentClaims: Array<{ at: number; ms: number }> = [];

  constructor(
    @Inject(JOB_QUEUE_OPTIONS) private readonly options: ResolvedJobQueueOptions,
    private readonly repository: JobRepository,
    private readonly registry: JobHandlerRegistry,
    private readonly executor: JobExecutor,
    private readonly metrics: JobQueueMetrics,
  ) {}

  get active(): boolean {
    return !this.stopped;
  }

  start(): void {
    const withLimits = this.registry
      .all()
      .map((h) => ({ h, limits: limitsOf(h.options, h.name) }))
      .filter((x): x is { h: (typeof x)['h']; limits: JobLimits } => x.limits !== null);
    const acrossInstances = new Set(withLimits.map((x) => x.h.type));
    const limited = this.registry
      .all()
      .filter((h) => h.options.concurrency !== undefined && !acrossInstances.has(h.type));
    const open = this.registry
      .all()
      .filter((h) => h.options.concurrency === undefined && !acrossInstances.has(h.type))
      .map((h) => h.type);
    // Handlers with their own concurrency claim first: claimed after the shared group, a steady backlog of other
    // types would take every free slot and starve them.
    const unknown = { fromHeadAt: 0, saturated: false, limitHeld: false };
    this.groups = [
      ...withLimits.map(({ h, limits }) => ({
        ...unknown,
        types: [h.type],
        concurrency: h.options.concurrency,
        limits,
      })),
      ...limited.map((h) => ({ ...unknown, types: [h.type], concurrency: h.options.concurrency })),
      ...(open.length > 0 ? [{ ...unknown, types: open }] : []),
    ];
    this.stopped = this.groups.length === 0 || this.options.concurrency === 0;
    this.lastTickAt = Date.now();
    this.executor.onSlotFreed(() => {
      // A probe owed (a wake-up came while every slot was busy) is made as soon as a slot frees. `wantsClaim` first:
      // once per job, and with prefetch false until the local queue is down to half.
      if (this.executor.wantsClaim() && (this.probeWanted || this.groups.some((g) => this.moreWaiting(g)))) {
        this.wakeSoon();
      }
    });
    this.executor.onRetryWritten((delayMs) => this.wakeIn(delayMs + DUE_MARGIN_MS));
    this.wake();
  }

  /**
   * Stops claiming at once; resolves when a claim already sent has returned and its jobs are in the executor, so
   * that shutdown drains or releases them instead of leaving them locked.
   */
  stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.backoffTimer);
    clearTimeout(this.dueTimer);
    this.dueAt = Number.POSITIVE_INFINITY;
    for (const group of this.groups) clearTimeout(group.rateTimer);
    return this.current;
  }

  /** The interval's tick: proves the loop is alive, and claims if there is room. */
  tick(): void {
    this.lastTickAt = Date.now();
    this.wake();
  }

  /**
   * The database answers again (the listener reconnected): end an error backoff now rather than at its timer,
   * which after a long outage may be many seconds away.
   */
  resume(): void {
    if (!this.backoffTimer) return this.wake();
    clearTimeout(this.backoffTimer);
    this.backoffTimer = undefined;
    this.wake();
  }

  /**
   * How long the claim loop has shown no progress (ms): since the claim under way was sent, or else since the last
   * tick (a blocked event loop). The health indicator and the `last_poll_age` gauge read it.
   */
  stalledMs(now = Date.now()): number {
    return now - (this.claimingSince > 0 ? this.claimingSince : this.lastTickAt);
  }

  /** Whether the claim loop is stalled on a statement (see `stalledMs`), not on the event loop. */
  get claimWaiting(): boolean {
    return this.claimingSince > 0;
  }

  /** Median duration (ms) of the claims that ended within the last `windowMs`; null when there were none. */
  recentClaimMs(windowMs: number): { medianMs: number; claims: number } | null {
    const since = Date.now() - windowMs;
    const times = this.recentClaims
      .filter((c) => c.at > since)
      .map((c) => c.ms)
      .sort((a, b) => a - b);
    if (times.length === 0) return null;
    return { medianMs: times[Math.floor(times.length / 2)], claims: times.length };
  }

  /**
   * Wakes the loop in `ms` (a job becomes due then: delayed, a retry, a schedule's slot), unless a wake-up is
   * already set for no later. So a job starts when due, not at the next poll; the poll stays the fallback.
   */
  wakeIn(ms: number): void {
    if (this.stopped) return;
    const at = performance.now() + Math.max(0, ms);
    if (at >= this.dueAt) return;
    clearTimeout(this.dueTimer);
    this.dueAt = at;
    this.dueTimer = setTimeout(
      () => {
        this.dueTimer = undefined;
        this.dueAt = Number.POSITIVE_INFINITY;
        this.wake();
      },
      Math.max(0, ms),
    );
  }

  /**
   * Asks for a claim; folds into the running loop when there is one. `probe`: also learn the next due time after
   * it (see `probeNextDue`); a wake-up for freed slots alone (`wakeSoon`) has nothing new to learn.
   */
  wake(probe = true): void {
    if (probe) this.probeWanted = true;
    if (this.stopped || this.backoffTimer) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.current = this.loop();
  }

  /**
   * Folds the slots freed together into one claim. setImmediate runs once every settled handler of the batch has
   * submitted its completion (they settle in microtasks), and before the completion writer's own flush, which was
   * scheduled after this: so the claim carries the whole batch's completions.
   */
  private wakeSoon(): void {
    if (this.wakeScheduled) return;
    this.wakeScheduled = true;
    setImmediate(() => {
      this.wakeScheduled = false;
      this.wake(false);
    });
  }

  private async loop(): Promise<void> {
    this.running = true;
    try {
      do {
        this.again = false;
        while (!this.stopped && (await this.claimOnce())) {
          // a full batch came back: claim again while slots are free
        }
        // Inside the loop: a wake-up that arrives during the probe sets `again` and is not lost.
        if (!this.again && !this.stopped && this.probeWanted) await this.probeNextDue();
      } while (this.again && !this.stopped);
      this.consecutiveErrors = 0;
    } catch (error) {
      this.consecutiveErrors += 1;
      this.metrics.claimFailed();
      // A claim that fails after stop (shutdown ends its connection, the database goes away) must arm no retry
      // timer: nothing would ever clear it, and it would keep the process alive for up to 30 s.
      if (this.stopped) {
        this.logger.warn(`Claiming jobs failed while stopping: ${(error as Error).message}`);
        return;
      }
      const delay = Math.min(MAX_ERROR_BACKOFF_MS, 100 * 2 ** Math.min(this.consecutiveErrors, 16));
      // One line per error streak step keeps the log readable during an outage.
      this.logger.warn(
        `Claiming jobs failed (${this.consecutiveErrors} in a row), next try in ${delay} ms: ${(error as Error).message}`,
      );
      this.backoffTimer = setTimeout(() => {
        this.backoffTimer = undefined;
        this.wake();
      }, delay);
    } finally {
      this.running = false;
      this.claimingSince = 0;
    }
  }

  /**
   * Learns when the earliest pending job this instance serves becomes due (one index probe per queue, type and
   * priority) and sets the due timer for it. Only while there is room to run it: a full executor claims again as
   * slots free. Beyond a poll interval away, the poll's own probe will see it closer.
   */
  private async probeNextDue(): Promise<void> {
    // Without room the probe waits: the wake-up of the slots that free will make it.
    if (this.executor.claimable() === 0) return;
    this.probeWanted = false;
    this.claimingSince = Date.now();
    const dueInMs = await this.repository.nextDueInMs(this.options.queues, this.servedTypes());
    if (dueInMs !== null && dueInMs < this.options.pollIntervalMs) this.wakeIn(dueInMs + DUE_MARGIN_MS);
  }

  private servedTypes(): string[] {
    return this.groups.flatMap((g) => g.types);
  }

  /**
   * Claims, and completes in the same statement whatever finished since the last claim: the usual cycle under
   * load is one round trip and one commit instead of two.
   */
  private async claim(types: string[], limit: number, cursor: ClaimCursor | undefined) {
    const done = this.executor.takeCompletions();
    try {
      const started = performance.now();
      const { jobs, completed } = await this.repository.completeAndClaim(
        done.map((entry) => entry.item),
        this.options.queues,
        types,
        limit,
        this.options.instanceId,
        cursor,
      );
      this.claimTimed(performance.now() - started);
      this.executor.completionsWritten(done, completed);
      return jobs;
    } catch (error) {
      if (error instanceof ClaimAfterCompletionsError) {
        this.executor.completionsWritten(done, error.completed);
        throw error.cause;
      }
      this.executor.completionsNotWritten(done);
      throw error;
    }
  }

  /** Per claim, never per job: one histogram observation and one entry in the recent window. */
  private claimTimed(ms: number): void {
    this.metrics.claimed(ms / 1000);
    this.recentClaims.push({ at: Date.now(), ms });
    if (this.recentClaims.length > RECENT_CLAIMS) this.recentClaims.shift();
  }

  /** How many jobs a claim of the group may return now. */
  private roomFor(group: ClaimGroup): number {
    return group.concurrency === undefined
      ? this.executor.claimable()
      : this.executor.claimableFor(group.types[0], group.concurrency);
  }

  /** The group's last claim left jobs it could take waiting, and it has room for one now. */
  private moreWaiting(group: ClaimGroup): boolean {
    return (group.saturated || group.limitHeld) && this.roomFor(group) > 0;
  }

  /**
   * One claim per group with room; true when any group came back full (more is likely waiting), or when a claim
   * that started at its cursor came back short (the walk from the head it then owes is due at once).
   * A group's claim starts at its cursor only while its claims come back full and its last walk from the head is
   * less than a poll interval old: so a row committed behind the cursor waits at most that long, and a queue that
   * keeps up walks from the head every time.
   */
  private async claimOnce(): Promise<boolean> {
    this.lastTickAt = Date.now();
    this.claimingSince = this.lastTickAt;
    let full = false;
    let cursorShort = false;
    for (const group of this.groups) {
      if (this.stopped) break;
      const room = this.roomFor(group);
      // Only a claim tells whether more work is waiting. A group without room (its own slots busy, or every slot)
      // learned nothing: clearing its flags then would leave its next freed slots idle until the next tick.
      if (room === 0) continue;
      if (group.limits) {
        const jobs = await this.claimWithinLimits(group, group.limits, room);
        group.limitHeld = jobs === 'held';
        group.saturated = jobs === room;
        if (group.saturated) full = true;
        continue;
      }
      const now = Date.now();
      const cursor = group.cursor && now - group.fromHeadAt < this.options.pollIntervalMs ? group.cursor : undefined;
      if (!cursor) group.fromHeadAt = now;
      const jobs = await this.claim(group.types, room, cursor);
      for (const job of jobs) this.executor.accept(job);
      group.saturated = jobs.length === room;
      if (group.saturated) full = true;
      else if (cursor) cursorShort = true;
      group.cursor = group.saturated ? cursorAfter(jobs) : undefined;
    }
    return (full || cursorShort) && this.executor.wantsClaim();
  }

  /**
   * One claim of a type with limits across instances (`JobRepository.claimLimited`), carrying the completions due,
   * like `claim`. Returns how many jobs it took, or `held` when a limit left due jobs waiting. A rate limit that
   * stopped it arms one timer for when its window has room again: limited, the loop sleeps instead of polling.
   */
  private async claimWithinLimits(group: ClaimGroup, limits: JobLimits, room: number): Promise<number | 'held'> {
    // With retention on a completion also moves the row to `finished_jobs` with its result, which the limited
    // claim's function does not do: then the completions stay with their own writer.
    const done = this.repository.keepsFinished ? null : this.executor.takeCompletions();
    let claim: Awaited<ReturnType<JobRepository['claimLimited']>>;
    try {
      const started = performance.now();
      claim = await this.repository.claimLimited(
        done?.map((entry) => entry.item) ?? [],
        this.options.queues,
        group.types[0],
        limits,
        room,
        this.options.instanceId,
      );
      this.claimTimed(performance.now() - started);
      if (done) this.executor.completionsWritten(done, claim.completed);
    } catch (error) {
      if (done) this.executor.completionsNotWritten(done);
      throw error;
    }
    for (const job of claim.jobs) this.executor.accept(job);
    for (const limit of claim.held) this.metrics.limitHeld(group.types[0], limit);
    clearTimeout(group.rateTimer);
    group.rateTimer = undefined;
    if (claim.wakeInMs !== null && !this.stopped) {
      group.rateTimer = setTimeout(() => {
        group.rateTimer = undefined;
        this.wake();
      }, claim.wakeInMs);
    }
    return claim.held.length > 0 ? 'held' : claim.jobs.length;
  }
}
