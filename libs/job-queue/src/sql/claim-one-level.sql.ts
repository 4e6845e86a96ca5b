import { CLAIMED_COLUMNS_AFTER_ID_NULLS, claimUpdate, type ClaimCursorParams } from './claim-available.sql';
import type { QueueTables } from './identifier';
import { opaqueParam } from './opaque-param';
import { statement } from './statement';

/**
 * The largest claim the one-level claim serves; a larger one takes the walk. Its row probe is `LIMIT` this
 * constant, so that the planner reads the index in claim order whatever the statistics say (a `LIMIT $3` it cannot
 * see would be costed as a tenth of the rows, and could then be a sort of all of them).
 */
export const ONE_LEVEL_MAX_CLAIM = 1_000;

/**
 * The claim of one served (queue, type) pair whose pending rows all have one priority: the common case (a worker
 * of one job type, jobs enqueued at the default priority) in a statement that takes a quarter less time than the
 * walk of `claim-available.sql.ts`, which serves every case (`FORMS=claim node bench/statement-forms.js`). Its
 * parameters are the walk's ($1 and $2 hold one pair).
 *
 * The walk's cost is in its structure, not its reads: its plan has ~150 nodes, all initialised on every execution,
 * and a step per CLAIM_CHUNK rows that aggregates them and then locks each in a subquery of its own. Here the rows
 * are locked as one ordered index range is read, which is possible only within one priority level: the due rows of
 * a level are contiguous in `jobs_available_idx` (`next_retry_at <= now()` bounds the range), and the next level
 * begins after that level's future rows. So the statement finds the level first, and claims nothing but says so
 * (a row whose id is null) when the pair has pending rows at another level: the caller then claims with the walk.
 * Every bound of the walk holds:
 * - only the served pair is read, by equality on the index's leading columns;
 * - the level is the cursor's ($5) when there is one, else the pair's highest, found by one `LIMIT 1` probe; other
 *   levels are looked for by two probes bounded by it (`priority > level`, `priority < level`), each of which ends
 *   at the first index entry outside its bound: neither walks the level's entries, among them those of claimed rows
 *   that vacuum has not yet removed;
 * - from a cursor the range starts at its run-at ($6), and only row versions no transaction locked or updated are
 *   taken (`xmax` 0), as in the walk; without one, from the head of the level;
 * - future rows are never read, and the `LIMIT` stops the range, and the locks, at $3 rows;
 * - a paused queue is not claimed (its name read once per statement).
 * The rows are locked `FOR UPDATE SKIP LOCKED` as the index yields them, in a MATERIALIZED CTE, and updated by the
 * walk's `UPDATE` by ctid (`claimUpdate`).
 */
export const oneLevelClaimCte = (t: QueueTables, cursor: ClaimCursorParams) => {
  const queue = `(${opaqueParam('$1', 'text[]')})[1]`;
  const type = `(${opaqueParam('$2', 'text[]')})[1]`;
  const cp = opaqueParam(cursor.priority, 'int');
  const levelProbe = (bound: string) => `(SELECT priority FROM ${t.jobs}
      WHERE status = 'pending' AND queue = ${queue} AND type = ${type}${bound}
      ORDER BY priority DESC LIMIT 1)`;
  return `lvl AS MATERIALIZED (SELECT coalesce(${cp}, ${levelProbe('')}) AS priority),
one AS MATERIALIZED (
  SELECT l.priority,
         ${levelProbe(' AND priority > l.priority')} IS NULL
         AND ${levelProbe(' AND priority < l.priority')} IS NULL AS single
  FROM lvl l
),
c AS MATERIALIZED (
  SELECT x.ctid FROM one CROSS JOIN LATERAL (
    SELECT ctid FROM ${t.jobs}
    WHERE status = 'pending' AND queue = ${queue} AND type = ${type} AND priority = one.priority
      AND next_retry_at <= now()
      AND next_retry_at >= CASE WHEN ${cp} IS NULL THEN '-infinity'::timestamptz
                                ELSE to_timestamp(${opaqueParam(cursor.runAtMs, 'float8')} / 1000) END
      AND (${cp} IS NULL OR xmax = '0'::xid)
    ORDER BY next_retry_at, created_at, id
    LIMIT ${ONE_LEVEL_MAX_CLAIM}
    FOR UPDATE SKIP LOCKED) x
  WHERE one.single AND ${queue} <> ALL (ARRAY(SELECT name FROM ${t.queues} WHERE paused))
  LIMIT ${opaqueParam('$3', 'int')}
)`;
};

/** The row that says the pair has pending rows at more than one level and nothing was claimed: its id is null. */
export const SEVERAL_LEVELS_ROW = `NULL::uuid, ${CLAIMED_COLUMNS_AFTER_ID_NULLS} FROM one WHERE NOT one.single`;

/** `claimAvailable` for one pair at one level (above): the claimed rows, or the several-levels row. */
export const claimOneLevel = statement(
  'claim-one-level',
  (t) => `WITH ${oneLevelClaimCte(t, { priority: '$5', runAtMs: '$6' })},
claimed AS (${claimUpdate(t)})
SELECT * FROM claimed
UNION ALL
SELECT ${SEVERAL_LEVELS_ROW}`,
);
