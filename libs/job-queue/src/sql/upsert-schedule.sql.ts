import { aheadJobsOf, NOW_MS, scheduleColumns } from './schedule-columns';
import { statement } from './statement';

const INSERT_COLUMNS = `name, cron, timezone, type, queue, payload, priority, max_attempts, overlap, catch_up,
  backfill_limit, source, definition_hash, last_slot`;
const VALUES = `$1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10, $11, $12, $13, ${NOW_MS}`;
const SET_DEFINITION = `cron = EXCLUDED.cron, timezone = EXCLUDED.timezone, type = EXCLUDED.type,
  queue = EXCLUDED.queue, payload = EXCLUDED.payload, priority = EXCLUDED.priority,
  max_attempts = EXCLUDED.max_attempts, overlap = EXCLUDED.overlap, catch_up = EXCLUDED.catch_up,
  backfill_limit = EXCLUDED.backfill_limit, source = EXCLUDED.source, definition_hash = EXCLUDED.definition_hash,
  updated_at = now()`;

/**
 * Creates or replaces a schedule from the service ($12 = 'runtime'). A new schedule starts at now(): its first
 * slot is the next one, nothing is caught up. A changed definition starts again at now() too, and its jobs enqueued
 * ahead (of the old definition) are removed in the same statement; an unchanged one keeps its state. `paused` is
 * never changed here. Returns the row, and whether it was created or changed.
 */
export const upsertSchedule = statement(
  'upsert-schedule',
  (t) => `
WITH old AS (SELECT definition_hash FROM ${t.schedules} WHERE name = $1),
saved AS (
  INSERT INTO ${t.schedules} AS s (${INSERT_COLUMNS}) VALUES (${VALUES})
  ON CONFLICT (name) DO UPDATE SET ${SET_DEFINITION},
    last_slot = CASE WHEN s.definition_hash = EXCLUDED.definition_hash THEN s.last_slot ELSE ${NOW_MS} END
  RETURNING ${scheduleColumns('s')}
),
ahead AS (
  ${aheadJobsOf(t.jobs, '$1', 'EXISTS (SELECT 1 FROM old WHERE old.definition_hash <> $13)')}
)
SELECT saved.*, NOT EXISTS (SELECT 1 FROM old) AS created,
       coalesce((SELECT old.definition_hash <> $13 FROM old), true) AS changed,
       (SELECT count(*) FROM ahead)::int AS removed
FROM saved`,
);

/**
 * Writes a schedule declared in code ($12 = 'code') at start. Rolling deploys run two versions of the code side by
 * side, each starting instances; they must not flip the definition back and forth. So a code definition replaces
 * the stored one only when the stored row is code-owned, differs, and the incoming definition is not one it has
 * already replaced (`superseded_hashes`): the newer deploy wins, an older one starting later cannot bring back
 * what was replaced. A schedule created or changed through the service (`source = 'runtime'`) is never touched.
 * Returns a row only when something was written.
 */
export const syncCodeSchedule = statement(
  'sync-code-schedule',
  (t) => `
WITH saved AS (
  INSERT INTO ${t.schedules} AS s (${INSERT_COLUMNS}) VALUES (${VALUES})
  ON CONFLICT (name) DO UPDATE SET ${SET_DEFINITION},
    superseded_hashes = array_append(s.superseded_hashes, s.definition_hash),
    last_slot = ${NOW_MS}
  WHERE s.source = 'code' AND s.definition_hash <> EXCLUDED.definition_hash
    AND NOT (EXCLUDED.definition_hash = ANY (s.superseded_hashes))
  RETURNING s.name, (xmax = 0) AS created
),
ahead AS (${aheadJobsOf(t.jobs, '$1', 'EXISTS (SELECT 1 FROM saved WHERE NOT saved.created)')})
SELECT saved.name, saved.created, (SELECT count(*) FROM ahead)::int AS removed FROM saved`,
);
