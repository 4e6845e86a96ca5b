import type { LoggerService } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { SnoozeJob } from '../errors/job-queue.errors';
import type { JobContext } from '../interfaces/job-context.interface';
import type { JobExecution } from './job-execution';

/** What `ctx.progress` calls: the executor's checked, throttled progress write for this attempt. */
export type ProgressReporter = (execution: JobExecution, value: unknown) => void;

/**
 * The `ctx` a handler gets. A class rather than an object literal of closures: it is made once per job, and most
 * handlers read only a field or two. The Dates, the signal and the two functions are made on their first read; the
 * functions are closures over this attempt, so a handler may still take them out of `ctx` (`const { snooze } = ctx`).
 * The attempt itself is kept in private fields: printing or serialising `ctx` shows only what the handler may use.
 */
export class AttemptContext implements JobContext {
  readonly id: string;
  readonly type: string;
  readonly queue: string;
  readonly attempt: number;
  readonly maxAttempts: number;
  readonly snoozeCount: number;
  /** Only in a transactional handler's context: absent, not undefined, in every other. */
  declare readonly manager?: EntityManager;
  readonly #execution: JobExecution;
  readonly #report: ProgressReporter;
  #createdAt: Date | undefined;
  #scheduledFor: Date | null | undefined;
  #snooze: ((ms: number) => never) | undefined;
  #progress: ((value: unknown) => void) | undefined;

  constructor(
    execution: JobExecution,
    report: ProgressReporter,
    readonly logger: LoggerService,
    manager?: EntityManager,
  ) {
    const { job } = execution;
    this.id = job.id;
    this.type = job.type;
    this.queue = job.queue;
    this.attempt = job.attempt_count;
    this.maxAttempts = job.max_attempts;
    this.snoozeCount = job.snooze_count ?? 0;
    if (manager) (this as { manager?: EntityManager }).manager = manager;
    this.#execution = execution;
    this.#report = report;
  }

  get createdAt(): Date {
    return (this.#createdAt ??= new Date(this.#execution.job.created_at_ms));
  }

  get scheduledFor(): Date | null {
    if (this.#scheduledFor === undefined) {
      const ms = this.#execution.job.scheduled_for_ms;
      this.#scheduledFor = ms === null ? null : new Date(ms);
    }
    return this.#scheduledFor;
  }

  /** Made on first read: an AbortController per job is costly, and most handlers never look at the signal. */
  get signal(): AbortSignal {
    return this.#execution.signal;
  }

  get snooze(): (ms: number) => never {
    const execution = this.#execution;
    return (this.#snooze ??= (ms: number): never => {
      const snooze = new SnoozeJob(ms);
      execution.snoozeRequested = snooze.delayMs;
      throw snooze;
    });
  }

  get progress(): (value: unknown) => void {
    const execution = this.#execution;
    const report = this.#report;
    return (this.#progress ??= (value: unknown) => report(execution, value));
  }
}
