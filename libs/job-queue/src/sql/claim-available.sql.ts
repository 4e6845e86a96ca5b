import type { QueueTables } from './identifier';
import { statement } from './statement';

/**
 * Claims up to $3 runnable jobs of the given queues ($1) and types ($2) for instance $4, in one round trip.
 *
 * The claim walks `jobs_available_idx (queue, type, priority DESC, next_retry_at, created_at, id)` in claim order,
 * one row per step of a recursive CTE (`walk`), and stops when $3 rows are locked. Each step is a handful of
 * `LIMIT 1` index probes, one per (queue, type) pair served, each starting strictly after the key of the row the
 * previous step returned; the step keeps the first of them (priority, then run-at, then created_at, then id). So:
 * - a claim reads only the pairs it serves: a backlog of other queues or types is never touched;
 * - it takes one priority level at a time. Within a level, `next_retry_at <= now()` bounds the probe (the due rows
 *   of a level are a contiguous range of the index), so jobs scheduled in the future are never walked. When a level
 *   has no more due rows, one probe finds the next lower level (a row with `job = false` marks it);
 * - its cost is a few probes per row returned, whatever the backlog, and no statistics can change that: every probe
 *   is `ORDER BY <index columns> LIMIT 1` with equality on the index's leading columns, which the planner reads off
 *   the index (a sort or a bitmap scan would have to read every row of the pair to return one), and the CTE's own
 *   estimate is a handful of rows, so the plan around it stays a nested loop over primary-key lookups. The plan is
 *   the same custom or generic (a named statement reused on a pooled connection cannot know `$3`; no probe depends
 *   on it). docs/claim-explain.md has the plans, with statistics wrong on purpose.
 * Rows are locked after the walk, by primary key, FOR UPDATE SKIP LOCKED: concurrent claimers walk the same order and
 * pass over each other's rows; a row another claimer took since this statement's snapshot fails the recheck of
 * `status` and is skipped. The LIMIT stops the walk once $3 rows are locked, so no row beyond them is locked.
 * The locking SELECT stands in a MATERIALIZED CTE, never in `WHERE id IN (subquery)`: the planner may run such a
 * subquery more than once and then lock (and update) more rows than the LIMIT.
 * The UPDATE finds its rows by primary key from the CTE's ids (`= ANY (ARRAY(...))`, read once as an InitPlan), not
 * by joining the CTE: a generic plan cannot know `$3` and for a join it would pick a hash join over a sequential
 * scan of the whole table (docs/claim-explain.md). The id array keeps the pkey index scan in every plan.
 * `attempt_count` counts the attempt here, at the claim: an attempt that crashes its process still counts, which is
 * what lets a poison job reach the dead-letter table.
 */
/**
 * The claim's two parts, shared with `completeAndClaim`: the CTEs `walk` and `c` (the statement's WITH must be
 * RECURSIVE), then the UPDATE of `c`'s rows.
 */
export const claimCte = (t: QueueTables) => `
walk (job, priority, next_retry_at, created_at, id) AS (
  ${nextLevel(t, 'true')}
  UNION ALL
  SELECT n.* FROM walk w CROSS JOIN LATERAL (
    (SELECT true, j.priority, j.next_retry_at, j.created_at, j.id
     FROM unnest($1::text[]) AS q(queue) CROSS JOIN unnest($2::text[]) AS ty(type)
     CROSS JOIN LATERAL (
       SELECT priority, next_retry_at, created_at, id FROM ${t.jobs}
       WHERE status = 'pending' AND queue = q.queue AND type = ty.type AND priority = w.priority
         AND next_retry_at <= now()
         AND (next_retry_at, created_at, id) > (w.next_retry_at, w.created_at, w.id)
       ORDER BY next_retry_at, created_at, id
       LIMIT 1) j
     ORDER BY j.next_retry_at, j.created_at, j.id
     LIMIT 1)
    UNION ALL
    ${nextLevel(t, 'priority < w.priority')}
    LIMIT 1) n
),
c AS MATERIALIZED (
  SELECT l.id FROM walk w CROSS JOIN LATERAL (
    SELECT id FROM ${t.jobs}
    WHERE id = w.id AND status = 'pending' AND next_retry_at <= now()
    FOR UPDATE SKIP LOCKED) l
  WHERE w.job
  LIMIT $3
)`;

/**
 * The highest priority level below the current one (`below`; `true` at the start) among the pairs served, as a
 * level marker: a row with `job = false` and the lowest possible key, from which the next step walks that level.
 */
const nextLevel = (t: QueueTables, below: string) => `(
    SELECT false, l.priority, '-infinity'::timestamptz, '-infinity'::timestamptz,
           '00000000-0000-0000-0000-000000000000'::uuid
    FROM unnest($1::text[]) AS q(queue) CROSS JOIN unnest($2::text[]) AS ty(type)
    CROSS JOIN LATERAL (
      SELECT priority FROM ${t.jobs}
      WHERE status = 'pending' AND queue = q.queue AND type = ty.type AND ${below}
      ORDER BY priority DESC
      LIMIT 1) l
    ORDER BY l.priority DESC
    LIMIT 1)`;

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

export const claimAvailable = statement('claim-available', (t) => `WITH RECURSIVE ${claimCte(t)}${claimUpdate(t)}`);
