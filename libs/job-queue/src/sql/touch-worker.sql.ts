import { statement } from './statement';

/**
 * Registers this worker, or renews its row: the queues and types it serves, live until now() + its lease. Run by
 * the heartbeat (every leaseMs / 3), so a worker stays live through two missed beats and is gone, like its
 * jobs' leases, after a whole lease without one. A row whose worker was gone is taken over as a new start.
 * The same statement deletes rows expired for an hour: dead workers stay visible for a while, then go, without a
 * task of their own (one row per instance: a few rows at most).
 */
export const touchWorker = statement(
  'touch-worker',
  (t) => `
WITH gone AS (
  DELETE FROM ${t.workers} WHERE expires_at < now() - interval '1 hour' AND instance_id <> $1
)
INSERT INTO ${t.workers} AS w (instance_id, queues, types, concurrency, expires_at)
VALUES ($1, $2::text[], $3::text[], $4, now() + $5::int * interval '1 millisecond')
ON CONFLICT (instance_id) DO UPDATE
SET queues = EXCLUDED.queues, types = EXCLUDED.types, concurrency = EXCLUDED.concurrency,
    started_at = CASE WHEN w.expires_at < now() THEN now() ELSE w.started_at END,
    last_seen_at = now(), expires_at = EXCLUDED.expires_at`,
);
