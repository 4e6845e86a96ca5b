import type { LoggerService } from '@nestjs/common';
import type { EntityManager } from 'typeorm';

/** What a handler learns about the attempt it runs. */
export interface JobContext {
  id: string;
  type: string;
  queue: string;
  /** 1 on the first attempt. */
  attempt: number;
  maxAttempts: number;
  createdAt: Date;
  /** The slot a schedule made this job for (see `JobScheduler`); null for a job no schedule made. */
  scheduledFor?: Date | null;
  /** Aborted on timeout, on lease loss, and when shutdown stops waiting. */
  signal: AbortSignal;
  logger: LoggerService;
  /** How many times this job was snoozed before this attempt (0 at first). */
  snoozeCount: number;
  /**
   * Ends the attempt with a snooze: the job goes back to pending, due in `ms` (database clock), without charging
   * an attempt; `snoozeCount` counts it. Throws a `SnoozeJob` (so `return ctx.snooze(ms)` stops the handler); the
   * snooze stands even if the handler catches it. Past `maxSnoozes` the job is dead-lettered instead. In a
   * transactional handler, the transaction's work is rolled back.
   */
  snooze(ms: number): never;
  /**
   * Reports progress (any JSON value up to `maxProgressBytes`), readable on the job's row while it runs. Written
   * at most once per `progressIntervalMs`, the latest value always; only while this attempt holds the lease.
   * Throws `JobValidationError` for a value that is not JSON or too large. Not available to transactional handlers.
   */
  progress(value: unknown): void;
  /** Only for `transactional: true` handlers: the transaction that also deletes the job. */
  manager?: EntityManager;
}
