import type { JobExecution } from './job-execution';

/**
 * How many transactional jobs may hold, or wait in the pool for, a connection at once: all of the pool but
 * `reserved` connections. A job beyond that waits here, where its lease is still renewed, instead of in the pool's
 * queue, where it would also stand in front of the heartbeat that renews it (the pool serves requests in order).
 */
export class TransactionSlots {
  private used = 0;
  private readonly waiting: Array<() => void> = [];
  private limit: number | undefined;

  constructor(
    private readonly poolMax: () => number,
    private readonly reserved: number,
  ) {}

  /** Resolves with the slot's release once one is free; rejects with the abort reason if the job is aborted first. */
  acquire(execution: JobExecution): Promise<() => void> {
    this.limit ??= Math.max(1, this.poolMax() - this.reserved);
    if (execution.abortReason) return Promise.reject(execution.abortReason);
    if (this.used < this.limit) {
      this.used += 1;
      return Promise.resolve(this.releaser());
    }
    return new Promise((resolve, reject) => {
      const signal = execution.signal;
      const grant = () => {
        signal.removeEventListener('abort', onAbort);
        this.used += 1;
        resolve(this.releaser());
      };
      const onAbort = () => {
        const index = this.waiting.indexOf(grant);
        if (index >= 0) this.waiting.splice(index, 1);
        reject(execution.abortReason ?? new Error('aborted'));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(grant);
    });
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.used -= 1;
      this.waiting.shift()?.();
    };
  }
}
