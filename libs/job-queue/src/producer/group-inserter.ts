type Insert<T, R> = (items: T[]) => Promise<R[]>;

/**
 * Group commit for enqueues made outside a caller's transaction: while one insert is in flight, the calls that
 * arrive wait and then go together in the next one. A lone call is never delayed (it is sent at once); under
 * concurrency, many jobs share one statement and one WAL flush, which is what bounds a queue's insert rate.
 */
export class GroupInserter<T, R> {
  private waiting: Array<{ items: T[]; resolve: (r: R[]) => void; reject: (e: unknown) => void }> = [];
  private inFlight = false;

  constructor(
    private readonly insert: Insert<T, R>,
    private readonly maxBatch = 1_000,
  ) {}

  add(items: T[]): Promise<R[]> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ items, resolve, reject });
      if (!this.inFlight) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.inFlight = true;
    while (this.waiting.length > 0) {
      const group: typeof this.waiting = [];
      let size = 0;
      while (this.waiting.length > 0 && (group.length === 0 || size + this.waiting[0].items.length <= this.maxBatch)) {
        const next = this.waiting.shift()!;
        group.push(next);
        size += next.items.length;
      }
      try {
        const results = await this.insert(group.flatMap((g) => g.items));
        let offset = 0;
        for (const entry of group) {
          entry.resolve(results.slice(offset, offset + entry.items.length));
          offset += entry.items.length;
        }
      } catch (error) {
        for (const entry of group) entry.reject(error);
      }
    }
    this.inFlight = false;
  }
}
