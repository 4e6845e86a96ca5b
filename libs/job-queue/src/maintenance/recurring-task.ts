import { Logger } from '@nestjs/common';
import type { SchedulerRegistry } from '@nestjs/schedule';

/**
 * An interval registered with @nestjs/schedule's SchedulerRegistry (so the app can list and inspect it) whose
 * tick never overlaps the previous one and never throws: one failed run is logged and the next tick tries again.
 */
export class RecurringTask {
  private current: Promise<void> | undefined;
  private readonly logger = new Logger('JobQueue');

  constructor(
    private readonly scheduler: SchedulerRegistry,
    readonly name: string,
    private readonly intervalMs: number,
    private readonly run: () => Promise<unknown> | void,
  ) {}

  start(): void {
    if (this.scheduler.doesExist('interval', this.name)) this.scheduler.deleteInterval(this.name);
    this.scheduler.addInterval(this.name, setInterval(() => void this.runOnce(), this.intervalMs));
  }

  /**
   * Stops the interval; resolves when a run under way has finished, so that shutdown closes no connection under a
   * maintenance statement.
   */
  stop(): Promise<void> {
    if (this.scheduler.doesExist('interval', this.name)) this.scheduler.deleteInterval(this.name);
    return this.current ?? Promise.resolve();
  }

  /** Runs now unless a run is under way; resolves when this run (or the one under way) is done. */
  runOnce(): Promise<void> {
    this.current ??= this.runSafely().finally(() => (this.current = undefined));
    return this.current;
  }

  private async runSafely(): Promise<void> {
    try {
      await this.run();
    } catch (error) {
      this.logger.warn(`${this.name} failed, will run again in ${this.intervalMs} ms: ${(error as Error).message}`);
    }
  }
}
