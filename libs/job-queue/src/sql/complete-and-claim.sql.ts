import { CLAIMED_COLUMNS_AFTER_ID_NULLS, claimCte, claimUpdate } from './claim-available.sql';
import { fencedDelete } from './fenced-delete';
import { keepFinished } from './finished-jobs.sql';
import type { QueueTables } from './identifier';
import { statement } from './statement';

/** The claim of `claimAvailable` after a `done` CTE, then the claimed rows (done = false) and the completed ids. */
const claimAndReturn = (t: QueueTables) => `${claimCte(t, { priority: '$7', runAtMs: '$8' })},
claimed AS (${claimUpdate(t)})
SELECT false AS done, claimed.* FROM claimed
UNION ALL
SELECT true, done.id, ${CLAIMED_COLUMNS_AFTER_ID_NULLS}
FROM done`;

/**
 * Completes the previous batch and claims the next in one statement, one round trip and one commit: under load a
 * worker's cycle is "these are done, give me as many more", and paying a statement and a commit for each half
 * nearly halves throughput. The completion is fenced row by row exactly as `completeMany` ($5[i] with token $6[i]);
 * the claim is `claimAvailable`'s ($1 to $4, its cursor $7 and $8). Rows come back as claimed jobs (done = false), then one row per
 * completed id (done = true). Both halves commit together or not at all.
 */
export const completeAndClaim = statement(
  'complete-and-claim',
  (t) => `
WITH RECURSIVE ${fencedDelete(t, { ids: '$5', tokens: '$6' })},
${claimAndReturn(t)}`,
);

/**
 * `completeAndClaim` with retention on: the completed rows move to `finished_jobs` with the handlers' return
 * values ($9[i], JSON text or null) in the same statement (see `completeManyRetained`).
 */
export const completeAndClaimRetained = statement(
  'complete-and-claim-retained',
  (t) => `
WITH RECURSIVE ${fencedDelete(t, { ids: '$5', tokens: '$6', results: '$9' })},
kept AS (${keepFinished(t, 'done', `'completed'`, 'kept_result::jsonb')}),
${claimAndReturn(t)}`,
);
