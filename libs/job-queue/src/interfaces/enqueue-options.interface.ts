import type { EntityManager } from 'typeorm';

export interface EnqueueOptions {
  /** Higher runs first. A 32-bit integer; default 0. */
  priority?: number;
  /** Run no earlier than this time. Exclusive with `delayMs`. */
  runAt?: Date;
  /** Run no earlier than this many ms after the insert (database clock). Exclusive with `runAt`. */
  delayMs?: number;
  /** Attempts for this job, over the handler's and the module's. */
  maxAttempts?: number;
  /** Default `'default'`. */
  queue?: string;
  /** While a job with this key is in `jobs`, enqueueing it again returns that job's id. */
  idempotencyKey?: string;
  /** The key this job's per-key limits count by (a tenant, a customer): 1 to 255 characters. */
  concurrencyKey?: string;
  /** Insert within this transaction; the job exists (and workers wake) only when it commits. */
  manager?: EntityManager;
}

export interface JobToEnqueue<P = unknown> extends Omit<EnqueueOptions, 'manager'> {
  type: string;
  payload: P;
}

export interface EnqueueResult {
  id: string;
}
