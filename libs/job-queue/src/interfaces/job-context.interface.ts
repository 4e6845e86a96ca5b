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
  /** Only for `transactional: true` handlers: the transaction that also deletes the job. */
  manager?: EntityManager;
}
