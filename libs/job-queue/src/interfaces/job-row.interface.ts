/** A row of `jobs` as the repository returns it. */
export interface JobRow {
  id: string;
  queue: string;
  type: string;
  payload: unknown;
  status: 'pending' | 'processing';
  priority: number;
  attempt_count: number;
  max_attempts: number;
  next_retry_at: Date;
  locked_at: Date | null;
  locked_by: string | null;
  lock_token: string | null;
  last_error: string | null;
  idempotency_key: string | null;
  created_at: Date;
  updated_at: Date;
}

/** A row of `dead_jobs` as listed: everything but the snapshot (the full row and stack, read per job). */
export type DeadJobSummary = Omit<DeadJobRow, 'snapshot'>;

/** A row of `dead_jobs`. */
export interface DeadJobRow {
  id: string;
  queue: string;
  type: string;
  payload: unknown;
  priority: number;
  failure_reason: string;
  attempt_count: number;
  max_attempts: number;
  created_at: Date;
  failed_at: Date;
  snapshot: Record<string, unknown>;
}
