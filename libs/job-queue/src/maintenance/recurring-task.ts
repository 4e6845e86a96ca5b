import { Logger } from '@nestjs/common';

/**
 * An interval of the library's own whose tick never overlaps the previous one and never throws: one failed run is
 * logged and the next tick tries again. A plain timer, not @nestjs/schedule: the library must not register a
 * scheduler in the app (a second `ScheduleModule.forRoot()` fires every `@Interval` and `@Cron` of the app twice,
 * and an app without one would have its schedules run by ours), nor depend on the app having one.
 */
export class RecurringTask {
  private current: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly logger = new Logger('JobQueue');

  constructor(
    readonly name: string,
    private readonly intervalMs: number,
    private readonly run: () => Promise<unknown> | void,
  ) {}

  start(): void {
    clearInterval(this.timer);
    this.timer = setInterval(() => void this.runOnce(), this.intervalMs);
  }

  /**
   * Stops the interval; resolves when a run under way has finished, so that shutdown closes no connection under a
   * maintenance statement.
   */
  stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
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
