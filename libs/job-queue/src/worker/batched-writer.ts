/**
 * Collects fenced writes (completions, retries, dead letters) from jobs finishing at about the same time into one
 * statement: under load, N jobs finishing in one tick cost one round trip instead of N.
 * Each caller learns whether its own row still held its lease. A write that fails because the database is out of
 * reach is retried with backoff until it succeeds or the writer is stopped: a finished job is not forgotten while
 * the process lives, and if its lease expires meanwhile, the fence turns the late write into a reported lease loss.
 * A write the database refuses for its data is retried row by row, so one bad row fails alone, not its batch.
 */
export class BatchedWriter<T extends { id: string }> {
  private readonly pending: Array<Entry<T>> = [];
  private scheduled = false;
  private stopped = false;
  private failures = 0;

  constructor(
    private readonly write: (items: T[]) => Promise<Set<string>>,
    private readonly delayMs: number,
    private readonly onError: (error: unknown, attempt: number) => void,
    private readonly maxBatch = 1_000,
  ) {}

  /** Resolves true when the write applied to this row, false when the lease was lost. */
  submit(item: T): Promise<boolean> {
    return new Promise((resolve, reject) =>
      this.add(
        item,
        null,
        (_, held) => resolve(held),
        (_, e) => reject(e as Error),
      ),
    );
  }

  /**
   * `submit` without a promise: `written(owner, held)` or `failed(owner, error)` is called once, from the code that
   * settles the batch. For the completion of every job, with the executor's two functions: a promise, its two
   * resolving functions and an async frame less per job. The callbacks must not throw.
   */
  submitFor<O>(
    item: T,
    owner: O,
    written: (owner: O, held: boolean) => void,
    failed: (owner: O, error: unknown) => void,
  ): void {
    this.add(item, owner, written, failed);
  }

  private add<O>(
    item: T,
    owner: O,
    resolve: (owner: O, held: boolean) => void,
    reject: (owner: O, error: unknown) => void,
  ): void {
    this.pending.push({ item, owner, resolve, reject } as Entry<T>);
    this.schedule(this.pending.length >= this.maxBatch ? 0 : this.delayMs);
  }

  /**
   * Hands over everything waiting, for the caller to write in a statement of its own (the claim loop completes
   * a batch in its next claim). The caller must `settle` or `giveBack` what it took.
   */
  take(): Taken<T> {
    return this.pending.splice(0);
  }

  /** Reports the outcome of taken items written elsewhere: held ids applied, the others lost their lease. */
  settle(taken: Taken<T>, held: Set<string>): void {
    for (const entry of taken) entry.resolve(entry.owner, held.has(entry.item.id));
  }

  /** Takes back items whose write failed elsewhere, to write (and retry) them as usual. */
  giveBack(taken: Taken<T>): void {
    if (taken.length === 0) return;
    if (this.stopped) {
      for (const entry of taken) entry.reject(entry.owner, new Error('writer stopped'));
      return;
    }
    this.pending.unshift(...taken);
    this.schedule(0);
  }

  /** Fails everything still waiting; used when shutdown gives up on an unreachable database. */
  stop(reason: Error): void {
    this.stopped = true;
    for (const entry of this.pending.splice(0)) entry.reject(entry.owner, reason);
  }

  private schedule(delayMs: number): void {
    if (this.scheduled) return;
    this.scheduled = true;
    const run = () => void this.flush();
    if (delayMs > 0) setTimeout(run, delayMs);
    else setImmediate(run);
  }

  private async flush(): Promise<void> {
    const batch = this.pending.splice(0, this.maxBatch);
    try {
      await this.writeBatch(batch);
    } finally {
      this.scheduled = false;
      if (this.pending.length > 0 && !this.stopped) {
        this.schedule(this.failures > 0 ? Math.min(5_000, 50 * 2 ** this.failures) : 0);
      }
    }
  }

  private async writeBatch(batch: Array<Entry<T>>): Promise<void> {
    if (batch.length === 0) return;
    try {
      const held = await this.write(batch.map((entry) => entry.item));
      this.failures = 0;
      for (const entry of batch) entry.resolve(entry.owner, held.has(entry.item.id));
    } catch (error) {
      if (this.stopped) {
        for (const entry of batch) entry.reject(entry.owner, error);
      } else if (isTransient(error)) {
        this.failures += 1;
        this.onError(error, this.failures);
        this.pending.unshift(...batch);
      } else if (batch.length > 1) {
        for (const entry of batch) await this.writeBatch([entry]);
      } else {
        batch[0].reject(batch[0].owner, error);
      }
    }
  }
}

/** Items handed over by `take`, with the callers still waiting on them. */
export type Taken<T> = ReadonlyArray<Entry<T>>;

interface Entry<T> {
  item: T;
  /** Handed back to `resolve` or `reject`: what the caller's shared callbacks need to find its item's owner. */
  owner: unknown;
  resolve: (owner: unknown, held: boolean) => void;
  reject: (owner: unknown, error: unknown) => void;
}

/**
 * Errors worth retrying as they are: no SQLSTATE (the connection failed), connection exceptions (08), operator
 * intervention such as a terminated backend or a shutting-down server (57), insufficient resources (53),
 * serialisation failures or deadlocks (40), system errors such as an I/O error (58), a lock not available in time
 * (55P03, `lock_timeout`), and a read-only transaction (25006: the server is a standby, as during a failover, or
 * was set read-only for a while). Anything else is about the data and would fail again.
 */
export function isTransient(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  if (typeof code !== 'string' || !/^[0-9A-Z]{5}$/.test(code)) return true;
  return TRANSIENT_CLASSES.has(code.slice(0, 2)) || TRANSIENT_CODES.has(code);
}

const TRANSIENT_CLASSES = new Set(['08', '57', '53', '40', '58']);
const TRANSIENT_CODES = new Set(['25006', '55P03']);
