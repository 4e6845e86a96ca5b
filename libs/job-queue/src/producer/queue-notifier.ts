/**
 * Wakes workers after autocommit enqueues, coalescing: while one NOTIFY is in flight, the queues of the inserts
 * that commit meanwhile wait and go in the next one. Every insert is followed by a NOTIFY sent after its commit
 * (never skipped, only shared), so a woken worker's claim sees the job. A NOTIFY that fails is dropped: the jobs
 * are committed, and the workers' poll interval finds them.
 */
export class QueueNotifier {
  private readonly waiting = new Set<string>();
  private inFlight = false;

  constructor(
    private readonly send: (queues: string[]) => Promise<void>,
    private readonly onError: (error: unknown) => void,
  ) {}

  notify(queues: Iterable<string>): void {
    for (const queue of queues) this.waiting.add(queue);
    if (!this.inFlight && this.waiting.size > 0) void this.flush();
  }

  private async flush(): Promise<void> {
    this.inFlight = true;
    while (this.waiting.size > 0) {
      const queues = [...this.waiting];
      this.waiting.clear();
      await this.send(queues).catch(this.onError);
    }
    this.inFlight = false;
  }
}
