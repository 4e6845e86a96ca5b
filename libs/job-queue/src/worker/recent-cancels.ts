/**
 * Jobs cancelled lately that this instance did not hold when told. A claim's result and a cancel's NOTIFY come on
 * different connections: a cancel that deleted a row just claimed here may be told before the claim returns it,
 * and the job must then be dropped when it arrives, not started. Remembered for `ttlMs` and at most `max` ids: the
 * message goes to every instance, and most never get the job. The expiry uses this process's monotonic clock, never
 * compared with the database's: it only bounds how long an id is kept.
 */
export class RecentCancels {
  /** Id → when it is forgotten; in the order added, so the oldest go first. */
  private readonly until = new Map<string, number>();

  constructor(
    private readonly ttlMs = RECENT_CANCEL_TTL_MS,
    private readonly max = RECENT_CANCELS_MAX,
    private readonly now: () => number = () => performance.now(),
  ) {}

  add(id: string): void {
    this.forgetExpired();
    // Added again: it moves to the end, with its new expiry, so the order stays that of expiry.
    this.until.delete(id);
    this.until.set(id, this.now() + this.ttlMs);
    if (this.until.size > this.max) this.until.delete(this.until.keys().next().value!);
  }

  /** Whether `id` was cancelled lately; it is forgotten then, since only the claim on its way concerns it. */
  take(id: string): boolean {
    // Every claimed job asks: nothing else is done while none is remembered.
    if (this.until.size === 0) return false;
    this.forgetExpired();
    return this.until.delete(id);
  }

  private forgetExpired(): void {
    const now = this.now();
    for (const [id, until] of this.until) {
      if (until > now) return;
      this.until.delete(id);
    }
  }
}

/**
 * A claim's result reaches the executor within milliseconds of its commit; seconds under a stalled event loop. Past
 * a lease, a job claimed before the cancel could have been recovered elsewhere anyway.
 */
const RECENT_CANCEL_TTL_MS = 30_000;
/** About 1 MB of ids at most; a cancel batch names up to 100. */
const RECENT_CANCELS_MAX = 10_000;
