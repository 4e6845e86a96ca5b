import { aheadJobsOf, NOW_MS } from './schedule-columns';
import { statement } from './statement';

/** Deletes a schedule ($1) and the jobs it enqueued ahead of their slot; no row when there was no such schedule. */
export const removeSchedule = statement(
  'remove-schedule',
  (t) => `
WITH gone AS (DELETE FROM ${t.schedules} WHERE name = $1 RETURNING name),
ahead AS (${aheadJobsOf(t.jobs, '$1', 'EXISTS (SELECT 1 FROM gone)')})
SELECT gone.name, (SELECT count(*) FROM ahead)::int AS removed FROM gone`,
);

/**
 * Pauses ($2 true) or resumes a schedule ($1). Pausing removes the job enqueued ahead for its next slot; both move
 * `last_slot` to now(), so that the slots of the pause are neither caught up nor counted as missed on resume.
 */
export const setSchedulePaused = statement(
  'set-schedule-paused',
  (t) => `
WITH s AS (
  UPDATE ${t.schedules}
  SET paused = $2, updated_at = now(), last_slot = CASE WHEN paused = $2 THEN last_slot ELSE ${NOW_MS} END
  WHERE name = $1
  RETURNING name, paused
),
ahead AS (${aheadJobsOf(t.jobs, '$1', '$2 AND EXISTS (SELECT 1 FROM s)')})
SELECT s.name, s.paused, (SELECT count(*) FROM ahead)::int AS removed FROM s`,
);
