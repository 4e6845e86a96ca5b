/**
 * One attempt's progress writes, throttled: at most one write per `intervalMs`, and the latest value always written
 * eventually. The first value goes out on the next tick; a value reported while a write is under way or within the
 * interval waits, replaced by any newer one, and is written when the interval has passed. One write at a time, so
 * writes never overtake each other.
 */
export class ProgressThrottle {
  private pending: string | null = null;
  private lastWriteAt = -Infinity;
  private timer: NodeJS.Timeout | null = null;
  private writing: Promise<void> | null = null;
  private closed = false;

  constructor(
    private readonly intervalMs: number,
    private readonly write: (json: string) => Promise<unknown>,
    private readonly now: () => number = () => performance.now(),
  ) {}

  report(json: string): void {
    if (this.closed) return;
    this.pending = json;
    this.schedule();
  }

  /**
   * The attempt has ended: nothing more is written, except, with `flush`, a value still waiting, written now (before
   * the attempt's end is written, which clears the lease the write is fenced by). Resolves when writes are done.
   */
  async close(flush: boolean): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.writing;
    const last = this.pending;
    this.pending = null;
    if (flush && last !== null) await this.write(last).catch(() => undefined);
  }

  private schedule(): void {
    if (this.timer || this.writing || this.closed) return;
    const wait = Math.max(0, this.lastWriteAt + this.intervalMs - this.now());
    this.timer = setTimeout(() => {
      this.timer = null;
      this.flush();
    }, wait);
  }

  private flush(): void {
    const json = this.pending;
    if (json === null || this.closed) return;
    this.pending = null;
    this.lastWriteAt = this.now();
    // A failed write is not retried as such: the next value, or none, is what matters now.
    this.writing = this.write(json)
      .then(() => undefined)
      .catch(() => undefined)
      .finally(() => {
        this.writing = null;
        if (this.pending !== null) this.schedule();
      });
  }
}
