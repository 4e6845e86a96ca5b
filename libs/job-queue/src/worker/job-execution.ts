import type { ClaimedJob, JobBackend, Lease } from '../job.repository';
import type { RegisteredJobHandler } from '../discovery/job-handler.registry';
import type { ProgressThrottle } from './progress-throttle';
import { UNTRACED_ATTEMPT, type AttemptTrace } from '../tracing/attempt-trace';

/** Why an attempt's signal was aborted; decides what its end is written as. */
export type AbortCause = 'timeout' | 'lease_lost' | 'shutdown' | 'cancelled';

/** One attempt of one job on this instance, from claim to its final write. */
export class JobExecution {
  /** Made on the first read of `signal`: most handlers never read it, and an AbortSignal per job is costly. */
  private controller: AbortController | null = null;
  /** Set once, when the attempt is aborted. */
  abortReason: Error | null = null;
  /** Told once when the attempt is aborted: the executor's race against a handler that ignores its signal. */
  onAbort: ((reason: Error) => void) | null = null;
  /**
   * When the job came back from its claim (`performance.now()`, ms); with `prefetch` it may wait in the local queue
   * before it starts. A double rather than `hrtime.bigint()`: a BigInt is a heap object, two or three per job.
   */
  readonly claimedAt = performance.now();
  /** When its handler started (`performance.now()`, ms); null while it waits in the local queue. */
  startedAt: number | null = null;
  abortCause: AbortCause | null = null;
  /** Set once the lease loss was counted, so the heartbeat and the finish never count it twice. */
  leaseLossCounted = false;
  /** Set when shutdown released the job: any later result of the handler is discarded. */
  released = false;
  /** The handler has settled and the final write is under way. */
  finishing = false;
  /** A transactional attempt's backend while its transaction holds the row; null before and after. */
  backend: JobBackend | null = null;
  /** Shutdown ended its transaction's backend: whatever the handler does next, the job is released. */
  terminated = false;
  /** The handler's timeout timer while it runs, when it has a timeout. */
  timeout: NodeJS.Timeout | undefined = undefined;
  /** Its progress writes, made on the first `ctx.progress`. */
  progress: ProgressThrottle | null = null;
  /** The snooze `ctx.snooze` asked for: it stands even if the handler catches the `SnoozeJob` and returns. */
  snoozeRequested: number | null = null;
  /** What the handler returned, for the `completed` hooks. */
  result: unknown = undefined;
  /** The attempt's span, from its start to its end (the no-op one when the app does not trace). */
  trace: AttemptTrace = UNTRACED_ATTEMPT;
  /** The job was cancelled: its row is gone (or going), nothing it does next is written, and it counts as no loss. */
  cancelled = false;

  /** The attempt's lease, made once: every write about the attempt is fenced by it. Never mutated. */
  readonly lease: Lease;

  constructor(
    readonly job: ClaimedJob,
    readonly handler: RegisteredJobHandler,
    /** Snoozes allowed before the next one dead-letters the job: the handler's `maxSnoozes`, else the module's. */
    readonly maxSnoozes = Infinity,
  ) {
    this.lease = { id: job.id, token: job.lock_token };
  }

  get transactional(): boolean {
    return this.handler.options.transactional === true;
  }

  /** The handler's signal: aborted on timeout, lease loss and shutdown, already aborted if made after that. */
  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.abortReason) this.controller.abort(this.abortReason);
    }
    return this.controller.signal;
  }

  abort(cause: AbortCause, reason: Error): void {
    if (this.abortReason) return;
    this.abortCause = cause;
    this.abortReason = reason;
    this.controller?.abort(reason);
    this.onAbort?.(reason);
  }

  get started(): boolean {
    return this.startedAt !== null;
  }

  /** Seconds the handler has run (0 for a job released before it started). */
  elapsedSeconds(): number {
    return this.startedAt === null ? 0 : (performance.now() - this.startedAt) / 1000;
  }

  /** Seconds spent in the local queue between the claim and the handler's start. */
  queuedSeconds(): number {
    return ((this.startedAt ?? performance.now()) - this.claimedAt) / 1000;
  }
}
