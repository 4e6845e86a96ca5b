type Insert<T, R> = (items: T[]) => Promise<R[]>;

interface Waiting<T, R> {
  items: T[];
  resolve: (r: R[]) => void;
  reject: (e: unknown) => void;
}

/**
 * Group commit for enqueues made outside a caller's transaction. A call is sent at once while fewer than
 * `lanes` inserts are in flight, so a lone call is never delayed; past that, the calls that arrive wait and go
 * together in the next insert a lane sends, sharing one statement and one commit. A few lanes rather than one:
 * PostgreSQL folds the commits of concurrent inserts into one WAL flush by itself, and a caller that just got its
 * answer and enqueues again finds a lane free instead of waiting out a whole insert of others.
 */
export class GroupInserter<T, R> {
  private readonly waiting: Array<Waiting<T, R>> = [];
  private active = 0;

  /**
   * @param splittable whether a failed group is sent again in halves: true for an error about the data (one caller's
   *   job the database refused), so that it fails only its own caller; false for an outage, which every caller shares.
   */
  constructor(
    private readonly insert: Insert<T, R>,
    private readonly lanes = 4,
    private readonly maxBatch = 1_000,
    private readonly splittable: (error: unknown) => boolean = () => true,
  ) {}

  add(items: T[]): Promise<R[]> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ items, resolve, reject });
      if (this.active < this.lanes) void this.lane();
    });
  }

  /** Sends groups until nothing waits. */
  private async lane(): Promise<void> {
    this.active += 1;
    try {
      while (this.waiting.length > 0) await this.send(this.nextGroup());
    } finally {
      this.active -= 1;
    }
  }

  private nextGroup(): Array<Waiting<T, R>> {
    const group: Array<Waiting<T, R>> = [];
    let size = 0;
    while (this.waiting.length > 0 && (group.length === 0 || size + this.waiting[0].items.length <= this.maxBatch)) {
      const next = this.waiting.shift()!;
      group.push(next);
      size += next.items.length;
    }
    return group;
  }

  private async send(group: Array<Waiting<T, R>>): Promise<void> {
    try {
      const results = await this.insert(group.flatMap((g) => g.items));
      let offset = 0;
      for (const entry of group) {
        entry.resolve(results.slice(offset, offset + entry.items.length));
        offset += entry.items.length;
      }
    } catch (error) {
      // The insert wrote nothing: one statement, or one transaction for a keyed insert's rounds. Halving finds the callers whose jobs fail in about 2·log2(group) statements
      // and sends everyone else's jobs through; a caller's own jobs stay together, all or none, as they were sent.
      if (group.length > 1 && this.splittable(error)) {
        const half = Math.ceil(group.length / 2);
        await this.send(group.slice(0, half));
        await this.send(group.slice(half));
        return;
      }
      for (const entry of group) entry.reject(error);
    }
  }
}
