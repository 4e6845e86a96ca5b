import { statement } from './statement';

/**
 * The next ids to cancel by filter: jobs of queue $1 (and type $2 unless null) after id $3, in key order, $4 at
 * most. It walks the primary key from the last batch's end, so each batch starts where the previous one stopped.
 */
export const findCancelBatch = statement(
  'find-cancel-batch',
  (t) => `
SELECT id FROM ${t.jobs}
WHERE id > $3::uuid AND queue = $1 AND ($2::text IS NULL OR type = $2)
ORDER BY id
LIMIT $4`,
);

/** Which of ids $1 are in `jobs` now (primary-key lookups). */
export const findLiveIds = statement('find-live-ids', (t) => `SELECT id FROM ${t.jobs} WHERE id = ANY ($1::uuid[])`);
