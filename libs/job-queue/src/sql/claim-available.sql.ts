import type { QueueTables } from './identifier';
import { statement } from './statement';

/**
 * Claims up to $3 runnable jobs of the given queues ($1) and types ($2) for instance $4, in one round trip.
 *
 * The locking SELECT stands in a MATERIALIZED CTE, never in `WHERE id IN (subquery)`: the planner may run such a
 * subquery more than once and then lock (and update) more rows than the LIMIT. SKIP LOCKED lets concurrent claimers
 * pass over each other's rows instead of queueing behind them. The ORDER BY matches `jobs_claim_idx` column for
 * column, so the scan reads the index in order and stops after LIMIT rows, whatever the backlog.
 * The UPDATE finds its rows by primary key from the CTE's ids (`= ANY (ARRAY(...))`, read once as an InitPlan), not
 * by joining the CTE: a generic plan (a named statement reused on a pooled connection) cannot know `$3` and
 * estimates the CTE at a tenth of the table, and for that join it picks a hash join over a sequential scan of the
 * whole table (0.4 s at a million rows, docs/claim-explain.md). The id array keeps the pkey index scan in every plan.
 * `attempt_count` counts the attempt here, at the claim: an attempt that crashes its process still counts, which is
 * what lets a poison job reach the dead-letter table.
 */
/** The claim's two parts, shared with `completeAndClaim`: the locking CTE `c`, then the UPDATE of its rows. */
export const claimCte = (t: QueueTables) => `
c AS MATERIALIZED (
  SELECT id FROM ${t.jobs}
  WHERE status = 'pending' AND next_retry_at <= now() AND queue = ANY($1::text[]) AND type = ANY($2::text[])
  ORDER BY priority DESC, next_retry_at, created_at
  LIMIT $3
  FOR UPDATE SKIP LOCKED
)`;

export const claimUpdate = (t: QueueTables) => `
UPDATE ${t.jobs} j
SET status = 'processing', locked_at = now(), locked_by = $4, lock_token = gen_random_uuid(),
    attempt_count = j.attempt_count + 1, updated_at = now()
WHERE j.id = ANY (ARRAY(SELECT id FROM c))
RETURNING j.id, j.queue, j.type, j.payload, j.priority, j.attempt_count, j.max_attempts, j.lock_token,
          ${epochMs('j.created_at')} AS created_at_ms, ${epochMs('now()')} AS claimed_at_ms`;

/**
 * A timestamp as milliseconds since the epoch, a float8: the driver parses a number per row with parseFloat,
 * where a timestamptz costs a regular expression and a Date (a measurable share of a worker's CPU per job).
 */
const epochMs = (column: string) => `(extract(epoch FROM ${column}) * 1000)::float8`;

export const claimAvailable = statement('claim-available', (t) => `WITH ${claimCte(t)}${claimUpdate(t)}`);
