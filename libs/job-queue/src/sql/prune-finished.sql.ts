import { statement } from './statement';

/**
 * Deletes up to $2 finished jobs (completed and cancelled) that finished more than $1 ms ago, oldest first, along
 * `finished_jobs_finished_at_idx`; returns how many. Rows another pruner holds are skipped, so every instance may
 * prune at once, and a small batch keeps each transaction short while workers insert. The DELETE finds its rows by
 * primary key from an id array (read once), not by joining `x`: a join may be planned as a hash join over a
 * sequential scan of the whole table (as the claim's UPDATE would, see `claim-available.sql.ts`).
 */
export const pruneFinished = statement(
  'prune-finished',
  (t) => `
WITH x AS MATERIALIZED (
  SELECT id FROM ${t.finishedJobs}
  WHERE finished_at < now() - $1::float8 * interval '1 millisecond'
  ORDER BY finished_at, id
  LIMIT $2
  FOR UPDATE SKIP LOCKED
),
d AS (DELETE FROM ${t.finishedJobs} WHERE id = ANY (ARRAY(SELECT id FROM x)) RETURNING 1)
SELECT count(*)::int AS count FROM d`,
);

/** The same for dead jobs older than $1 ms, along `dead_jobs_failed_at_idx`. */
export const pruneDead = statement(
  'prune-dead',
  (t) => `
WITH x AS MATERIALIZED (
  SELECT id FROM ${t.deadJobs}
  WHERE failed_at < now() - $1::float8 * interval '1 millisecond'
  ORDER BY failed_at, id
  LIMIT $2
  FOR UPDATE SKIP LOCKED
),
d AS (DELETE FROM ${t.deadJobs} WHERE id = ANY (ARRAY(SELECT id FROM x)) RETURNING 1)
SELECT count(*)::int AS count FROM d`,
);
