import type { ClaimedJob, Lease } from '../job.repository';
import type { RegisteredJobHandler } from '../discovery/job-handler.registry';

/** Why an attempt's signal was aborted; decides what its end is written as. */
export type AbortCause = 'timeout' | 'lease_lost' | 'shutdown';

/** One attempt of one job on this instance, from claim to its final write. */
export class JobExecution {
  readonly controller = new AbortController();
  readonly startedAt = process.hrtime.bigint();
  abortCause: AbortCause | null = null;
  /** Set once the lease loss was counted, so the heartbeat and the finish never count it twice. */
  leaseLossCounted = false;
  /** Set when shutdown released the job: any later result of the handler is discarded. */
  released = false;
  /** The handler has settled and the final write is under way. */
  finishing = false;
  /** A transactional attempt's backend, once its transaction holds the row. */
  backendPid: number | null = null;

  constructor(
    readonly job: ClaimedJob,
    readonly handler: RegisteredJobHandler,
  ) {}

  get lease(): Lease {
    return { id: this.job.id, token: this.job.lock_token };
  }

  get transactional(): boolean {
    return this.handler.options.transactional === true;
  }

  abort(cause: AbortCause, reason: Error): void {
    if (this.controller.signal.aborted) return;
    this.abortCause = cause;
    this.controller.abort(reason);
  }

  elapsedSeconds(): number {
    return Number(process.hrtime.bigint() - this.startedAt) / 1e9;
  }
}
