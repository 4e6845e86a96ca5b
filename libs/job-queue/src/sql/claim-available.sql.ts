import type { QueueTables } from './identifier';
import { opaqueParam } from './opaque-param';
import { statement } from './statement';

/**
 * Claims up to $3 runnable jobs of the given (queue, type) pairs for instance $4, in one round trip. The pairs come
 * as two arrays of equal length, queue $1[i] with type $2[i] (`claimPairs`): one function scan, which the planner
 * estimates at 10 rows where a cross join of two arrays counts 100, so that the generic plan's estimated cost stays
 * near the custom plans' and far below `jit_above_cost` (a JIT compile costs tens of milliseconds per execution).
 *
 * The claim walks `jobs_available_idx (queue, type, priority DESC, next_retry_at, created_at, id)` in claim order,
 * a recursive CTE (`walk`) whose steps each start strictly after the key of the last row the previous step took, and
 * stops when $3 rows are locked. A step is a `LIMIT 1` index probe per (queue, type) pair served: the pair whose next
 * row comes first wins, and the step takes that pair's rows in order, up to the next row of any other pair and at
 * most CLAIM_CHUNK of them, in one more probe (with one pair, as with one type or one type with a backlog, a step is a
 * probe for CLAIM_CHUNK rows; with pairs that interleave, a step takes the rows that come in a row). So:
 * - a claim reads only the pairs it serves: a backlog of other queues or types is never touched;
 * - it takes one priority level at a time. Within a level, `next_retry_at <= now()` bounds the probe (the due rows
 *   of a level are a contiguous range of the index), so jobs scheduled in the future are never walked. When a level
 *   has no more due rows, one probe finds the next lower level (a row with `job = false` marks it);
 * - its cost follows the rows returned, whatever the backlog, and no statistics can change that: every probe is
 *   `ORDER BY <index columns> LIMIT <constant>` with equality on the index's leading columns, which the planner
 *   reads off the index (a sort or a bitmap scan would have to read every row of the pair first), and the CTE's own
 *   estimate is a handful of rows, so the plan around it stays a nested loop over TID scans. The plan is
 *   the same custom or generic (a named statement reused on a pooled connection cannot know `$3`; no probe depends
 *   on it). docs/claim-explain.md has the plans, with statistics wrong on purpose.
 * A claim may start its walk at a cursor ($5 priority, $6 run-at in epoch milliseconds, both null for none): the
 * level of that priority is then walked from that run-at instead of from its head. The head of a level is where
 * the index entries of rows already claimed or completed lie until vacuum removes them, and while a long
 * transaction holds the horizon nothing removes them and nothing can mark them dead: a walk from the head would
 * visit every one of them, on every claim. The poller passes as cursor the end of its previous full batch (less a
 * margin), so a saturated loop walks only what it has not yet passed; it walks from the head at least once per poll
 * interval and whenever a claim comes back short, which finds any row committed behind the cursor.
 * Rows are locked after the walk, where the walk found them (their ctid, a TID scan: one heap page, where a
 * primary-key lookup first descends the key's tree), FOR UPDATE SKIP LOCKED: concurrent claimers walk the same order
 * and pass over each other's rows; a row another claimer took since this statement's snapshot has a newer version,
 * which the lock follows and whose `status` fails the recheck, so it is skipped. Within one statement a ctid cannot
 * come to mean another row: the version the walk saw stays in place until no snapshot can see it, this one included.
 * A claim from a cursor locks only versions no transaction has locked or updated (`xmax` 0). That skip costs
 * nothing where the lock would cost much: following a row another instance claimed since the snapshot runs the
 * recheck (a re-execution of the row's scan) and leaves the row locked by this claim until it commits, so the owner's
 * completion waits for it; with several instances draining one backlog most of the rows a claim walked were such
 * rows, and the server's CPU per job doubled from one instance to four. A pending row whose version still carries
 * the `xmax` of a lock that ended (a claim that failed after locking it, a cancel that could not delete it) is
 * taken by the walk from the head, which checks no `xmax`: it comes at least once per poll interval and after any
 * short claim, so such a row starts at most a poll interval after the rows before it, and is never lost.
 * The LIMIT stops the walk once $3 rows are locked, so no row beyond them is locked.
 * The locking SELECT stands in a MATERIALIZED CTE, never in `WHERE id IN (subquery)`: the planner may run such a
 * subquery more than once and then lock (and update) more rows than the LIMIT.
 * The UPDATE finds its rows by the ctids the lock returned (`= ANY (ARRAY(...))`, read once as an InitPlan), not by
 * joining the CTE: a generic plan cannot know `$3` and for a join it would pick a hash join over a sequential scan of
 * the whole table (docs/claim-explain.md). A row we locked cannot move, so its ctid holds; the array keeps a TID scan
 * in every plan. (A lock that followed a row to a version newer than the snapshot, one released back to pending
 * meanwhile, names a version the UPDATE cannot see: that row is skipped, never claimed twice.)
 * `attempt_count` counts the attempt here, at the claim: an attempt that crashes its process still counts, which is
 * what lets a poison job reach the dead-letter table.
 */
/**
 * The claim's two parts, shared with `completeAndClaim`: the CTEs `walk` and `c` (the statement's WITH must be
 * RECURSIVE), then the UPDATE of `c`'s rows. `cursor` names the parameters of the cursor's priority and run-at.
 */
export const claimCte = (t: QueueTables, cursor: ClaimCursorParams) => `
walk (job, priority, next_retry_at, created_at, id, ctids) AS (
  ${nextLevel(t, null, cursor)}
  UNION ALL
  SELECT n.* FROM walk w CROSS JOIN LATERAL (
    (SELECT true, w.priority, ch.runs[cardinality(ch.ids)], ch.creates[cardinality(ch.ids)], ch.ids[cardinality(ch.ids)],
            ch.ctids
     FROM (
       SELECT array_agg(x.id ORDER BY x.next_retry_at, x.created_at, x.id) AS ids,
              array_agg(x.ctid ORDER BY x.next_retry_at, x.created_at, x.id) AS ctids,
              array_agg(x.next_retry_at ORDER BY x.next_retry_at, x.created_at, x.id) AS runs,
              array_agg(x.created_at ORDER BY x.next_retry_at, x.created_at, x.id) AS creates
       FROM ${nextHead(t, 'true')} win
       LEFT JOIN LATERAL ${nextHead(t, '(p.queue, p.type) <> (win.queue, win.type)')} other ON true
       CROSS JOIN LATERAL (
         SELECT next_retry_at, created_at, id, ctid FROM ${t.jobs}
         WHERE status = 'pending' AND queue = win.queue AND type = win.type AND priority = w.priority
           AND next_retry_at <= now()
           AND (next_retry_at, created_at, id) >= (win.next_retry_at, win.created_at, win.id)
           AND (next_retry_at, created_at, id) < (coalesce(other.next_retry_at, 'infinity'),
                coalesce(other.created_at, 'infinity'), coalesce(other.id, 'ffffffff-ffff-ffff-ffff-ffffffffffff'))
         ORDER BY next_retry_at, created_at, id
         LIMIT ${CLAIM_CHUNK}) x
       HAVING count(*) > 0) ch)
    UNION ALL
    ${nextLevel(t, 'w.priority', cursor)}
    LIMIT 1) n
),
c AS MATERIALIZED (
  SELECT l.ctid FROM walk w CROSS JOIN LATERAL unnest(w.ctids) AS u(ctid) CROSS JOIN LATERAL (
    SELECT ctid FROM ${t.jobs}
    WHERE ctid = u.ctid AND status = 'pending' AND next_retry_at <= now()
      AND (${opaqueParam(cursor.priority, 'int')} IS NULL OR xmax = '0'::xid)
    FOR UPDATE SKIP LOCKED) l
  WHERE w.job
  LIMIT ${opaqueParam('$3', 'int')}
)`;

/**
 * Rows a step takes at most from one pair. A step takes the rows of the pair whose next row comes first, up to the
 * next row of any other pair: with one pair (one type, or one type with a backlog) a step is one probe for up to
 * this many rows; with interleaved pairs it is as many as come in a row. A constant, so the planner knows it.
 */
export const CLAIM_CHUNK = 32;

/**
 * The served (queue, type) pairs, $1[i] with $2[i]. Every parameter of the claim reaches the planner only through
 * `opaqueParam`, so that its plan is the generic plan, reused on a connection instead of planned per execution.
 */
const SERVED_PAIRS = `unnest(${opaqueParam('$1', 'text[]')}, ${opaqueParam('$2', 'text[]')})`;

/**
 * The next row after the walk's position `w` on its level, among the served pairs that satisfy `which`: one
 * `LIMIT 1` probe per pair, the first of them, with its pair. (A subquery in FROM, one row or none.)
 */
const nextHead = (t: QueueTables, which: string) => `(
    SELECT p.queue, p.type, j.next_retry_at, j.created_at, j.id
    FROM ${SERVED_PAIRS} AS p(queue, type)
    CROSS JOIN LATERAL (
      SELECT next_retry_at, created_at, id FROM ${t.jobs}
      WHERE status = 'pending' AND queue = p.queue AND type = p.type AND priority = w.priority
        AND next_retry_at <= now()
        AND (next_retry_at, created_at, id) > (w.next_retry_at, w.created_at, w.id)
      ORDER BY next_retry_at, created_at, id
      LIMIT 1) j
    WHERE ${which} AND ${unpaused(t)}
    ORDER BY j.next_retry_at, j.created_at, j.id
    LIMIT 1)`;

/**
 * A served pair's queue is not paused. The paused names are read once per statement (an uncorrelated sub-select,
 * an InitPlan, from a table of a few rows), so the check is exact from the moment a pause commits: a claim whose
 * snapshot sees the pause walks no pair of that queue, and a claim that began before it commits is one that ran
 * before the pause. Filtering the pairs, not the rows, keeps a paused backlog out of the walk altogether.
 */
const unpaused = (t: QueueTables) => `p.queue <> ALL (ARRAY(SELECT name FROM ${t.queues} WHERE paused))`;

export interface ClaimCursorParams {
  priority: string;
  runAtMs: string;
}

/**
 * The next priority level to walk, as a level marker: a row with `job = false` and the key from which the next
 * step walks that level (the cursor's run-at on the cursor's level, else the lowest possible key). The next level
 * is the highest of: the highest level present below `above` (null at the start: any) that lies above the
 * cursor's level, found by one probe bounded by both; and the cursor's level itself when it lies below `above`.
 * Neither finds it by reading the head of the cursor's level, where the dead entries are: a probe for a level under
 * the cursor's starts at that level's head (the cursor tracks one level, the one where a batch ended).
 */
const nextLevel = (t: QueueTables, above: string | null, cursor: ClaimCursorParams) => {
  const cp = opaqueParam(cursor.priority, 'int');
  const belowAbove = above === null ? 'true' : `priority < ${above}`;
  const cursorBelowAbove = above === null ? `${cp} IS NOT NULL` : `${cp} < ${above}`;
  // Above the cursor's level the probe stops at it; at or under it, it is unbounded. -2147483649 is below any int.
  const lowest = above === null ? `${cp}::bigint` : `CASE WHEN ${above} > ${cp} THEN ${cp}::bigint END`;
  return `(
    SELECT false, lvl.priority,
           CASE WHEN lvl.priority = ${cp} THEN to_timestamp(${opaqueParam(cursor.runAtMs, 'float8')} / 1000)
                ELSE '-infinity'::timestamptz END,
           '-infinity'::timestamptz, '00000000-0000-0000-0000-000000000000'::uuid, NULL::tid[]
    FROM (
      (SELECT l.priority
       FROM ${SERVED_PAIRS} AS p(queue, type)
       CROSS JOIN LATERAL (
         SELECT priority FROM ${t.jobs}
         WHERE status = 'pending' AND queue = p.queue AND type = p.type AND ${belowAbove}
           AND priority > coalesce(${lowest}, -2147483649)
         ORDER BY priority DESC
         LIMIT 1) l
       WHERE ${unpaused(t)}
       ORDER BY l.priority DESC
       LIMIT 1)
      UNION ALL
      SELECT ${cp} WHERE ${cursorBelowAbove}
    ) lvl
    ORDER BY lvl.priority DESC
    LIMIT 1)`;
};

/**
 * The claim's write: the rows the CTE `c` locked become this instance's attempts. One `lock_token` for the
 * statement (an InitPlan, drawn once), not one a row: every statement that acts on an attempt matches `id` and
 * token together, so a token needs to be new for each claim, not for each row; a row claimed again later is
 * claimed by another statement, with another token. A random UUID a row cost the claim ~2 µs a job.
 */
export const claimUpdate = (t: QueueTables) => `
UPDATE ${t.jobs} j
SET status = 'processing', locked_at = now(), locked_by = $4, lock_token = (SELECT gen_random_uuid()),
    attempt_count = j.attempt_count + 1, updated_at = now()
WHERE j.ctid = ANY (ARRAY(SELECT ctid FROM c))
RETURNING j.id, j.queue, j.type, j.payload, j.priority, j.attempt_count, j.max_attempts, j.lock_token,
          ${epochMs('j.created_at')} AS created_at_ms, ${epochMs('now()')} AS claimed_at_ms,
          ${epochMs('j.next_retry_at')} AS run_at_ms, ${epochMs('j.scheduled_for')} AS scheduled_for_ms,
          j.snooze_count, j.trace_context`;

/**
 * Typed nulls for the columns of a claimed row after its id, in the order of the claim's RETURNING above: what a
 * row of the same result that is not a claimed job (a completed id) carries. Change both together.
 */
export const CLAIMED_COLUMNS_AFTER_ID_NULLS = `NULL::text, NULL::text, NULL::jsonb, NULL::int, NULL::int, NULL::int,
       NULL::uuid, NULL::float8, NULL::float8, NULL::float8, NULL::float8, NULL::int, NULL::jsonb`;

/**
 * A timestamp as milliseconds since the epoch, a float8: the driver parses a number per row with parseFloat,
 * where a timestamptz costs a regular expression and a Date (a measurable share of a worker's CPU per job).
 * `date_part` computes in float8; `extract` computes in numeric since PostgreSQL 14, which cost a claim of 250
 * ~1.5 µs a job for its four columns (docs/performance.md), for precision a millisecond count does not need.
 */
export const epochMs = (column: string) => `(date_part('epoch', ${column}) * 1000)`;

/** The (queue, type) pairs a claim serves, as the two parallel arrays the statements take as $1 and $2. */
export function claimPairs(queues: string[], types: string[]): [string[], string[]] {
  const pairQueues: string[] = [];
  const pairTypes: string[] = [];
  for (const queue of queues) {
    for (const type of types) {
      pairQueues.push(queue);
      pairTypes.push(type);
    }
  }
  return [pairQueues, pairTypes];
}

export const claimAvailable = statement(
  'claim-available',
  (t) => `WITH RECURSIVE ${claimCte(t, { priority: '$5', runAtMs: '$6' })}${claimUpdate(t)}`,
);
