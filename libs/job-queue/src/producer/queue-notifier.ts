import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Least time between two NOTIFYs of one producer. Under load every insert would otherwise be followed by a NOTIFY of
 * its own: a statement, a round trip and a wake-up of every listening worker per job, for workers that are busy
 * anyway. A lone enqueue is not delayed: its NOTIFY goes at once when none went in the last gap.
 */
export const NOTIFY_GAP_MS = 2;

/**
 * Wakes workers after autocommit enqueues, coalescing: while one NOTIFY is in flight, or less than `gapMs` after
 * the last one, the queues of the inserts that commit meanwhile wait and go together in the next one. Every insert
 * is followed by a NOTIFY sent after its commit (never skipped, only shared and at most `gapMs` late), so a woken
 * worker's claim sees the job. A NOTIFY that fails is dropped: the jobs are committed, and the workers' poll
 * interval finds them.
 */
export class QueueNotifier {
  private readonly waiting = new Set<string>();
  private busy = false;
  private lastSentAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly send: (queues: string[]) => Promise<void>,
    private readonly onError: (error: unknown) => void,
    private readonly gapMs = NOTIFY_GAP_MS,
  ) {}

  /**
   * Whether the caller's insert may carry its NOTIFY itself (`pg_notify` in the statement, delivered at its commit)
   * instead of calling `notify` after it: only when that NOTIFY would go at once anyway, none in flight, none
   * waiting and none sent within the gap. The turn counts as a NOTIFY sent now, so the inserts that commit within
   * the gap after it fold into the next one as usual, and inserts carrying a NOTIFY are at least a gap apart.
   */
  takeTurn(): boolean {
    if (this.busy || this.waiting.size > 0 || this.untilGapEnds() > 0) return false;
    this.lastSentAt = performance.now();
    return true;
  }

  notify(queues: Iterable<string>): void {
    for (const queue of queues) this.waiting.add(queue);
    if (!this.busy && this.waiting.size > 0) void this.flush();
  }

  private async flush(): Promise<void> {
    this.busy = true;
    while (this.waiting.size > 0) {
      // Again until the gap is over: a timer may fire up to a millisecond early by performance.now().
      for (let wait = this.untilGapEnds(); wait > 0; wait = this.untilGapEnds()) await sleep(wait);
      const queues = [...this.waiting];
      this.waiting.clear();
      this.lastSentAt = performance.now();
      await this.send(queues).catch(this.onError);
    }
    this.busy = false;
  }

  private untilGapEnds(): number {
    return this.lastSentAt + this.gapMs - performance.now();
  }
}
