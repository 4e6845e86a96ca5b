import type { QueueTables } from './identifier';
import { statement } from './statement';

/**
 * The dashboard's listings: one page of jobs in state $1 (of queue $2 and type $3 when given), in id order after
 * $4, $5 rows at most, found among the next $6 rows of the table's primary key at most. The window bounds the walk:
 * a filter that matches nothing in a million rows reads $6 rows, not the table, and the page then ends early with
 * `window_end` (the last id read) as the cursor to walk on from. One row: the page as JSON, the window's last id,
 * and how many rows the window held (fewer than $6: the table ends inside it). The keys are random uuids, so the
 * window's rows lie on as many heap pages as there are rows: the window is kept small.
 */
const windowed = (table: string, columns: string, stateFilter: string) => `
WITH w AS MATERIALIZED (
  SELECT id, ${stateFilter} AS in_state, queue, type FROM ${table} WHERE id > $4::uuid ORDER BY id LIMIT $6
), hits AS (
  SELECT id FROM w
  WHERE in_state AND ($2::text IS NULL OR queue = $2) AND ($3::text IS NULL OR type = $3)
  ORDER BY id LIMIT $5
), page AS (
  SELECT ${columns} FROM ${table} WHERE id IN (SELECT id FROM hits)
)
SELECT coalesce((SELECT json_agg(page ORDER BY id) FROM page), '[]'::json) AS jobs,
       (SELECT id FROM w ORDER BY id DESC LIMIT 1) AS window_end,
       (SELECT count(*) FROM w)::int AS scanned`;

// Only what a row of the list shows: the error cut short, no payload (a job's page shows those). The window reads
// no more than it filters on; the page's columns are read for the page's rows alone.
const LIVE = `id, queue, type, status, attempt_count, max_attempts, next_retry_at AS run_at, created_at,
  updated_at AS changed_at, left(last_error, 200) AS last_error`;
const DEAD = `id, queue, type, 'dead'::text AS status, attempt_count, max_attempts, NULL::timestamptz AS run_at,
  created_at, failed_at AS changed_at, left(failure_reason, 200) AS last_error`;
const FINISHED = `id, queue, type, status, attempt_count, max_attempts, next_retry_at AS run_at, created_at,
  finished_at AS changed_at, left(last_error, 200) AS last_error`;

export const listLiveWindow = statement('dashboard-list-live', (t: QueueTables) =>
  windowed(t.jobs, LIVE, 'status = $1'),
);
/** $1 is checked against 'dead' only so that all three listings take the same parameters. */
export const listDeadWindow = statement('dashboard-list-dead', (t: QueueTables) =>
  windowed(t.deadJobs, DEAD, "$1::text = 'dead'"),
);
export const listFinishedWindow = statement('dashboard-list-finished', (t: QueueTables) =>
  windowed(t.finishedJobs, FINISHED, 'status = $1'),
);

/**
 * Running jobs, the listings' odd one out: they are few among many pending ones, so a window of the primary key
 * would mostly come back empty. The processing set is bounded by the fleet's concurrency and `jobs_rescue_idx`
 * holds exactly it: read all of it (materialized, so the plan cannot turn into a walk of the whole key) and page it
 * by id. Same parameters and shape as the other listings; `window_end` is null (the page is the whole answer).
 */
export const listProcessingPage = statement(
  'dashboard-list-processing',
  (t: QueueTables) => `
WITH running AS MATERIALIZED (
  SELECT ${LIVE} FROM ${t.jobs} WHERE status = 'processing' AND $1::text = 'processing' AND $6::int > 0
), page AS (
  SELECT * FROM running
  WHERE id > $4::uuid AND ($2::text IS NULL OR queue = $2) AND ($3::text IS NULL OR type = $3)
  ORDER BY id LIMIT $5
)
SELECT coalesce((SELECT json_agg(page ORDER BY id) FROM page), '[]'::json) AS jobs, NULL::uuid AS window_end,
       (SELECT count(*) FROM page)::int AS scanned`,
);
