import { CLAIMED_COLUMNS_AFTER_ID_NULLS, claimCte, claimUpdate, type ClaimCursorParams } from './claim-available.sql';
import { oneLevelClaimCte, SEVERAL_LEVELS_ROW } from './claim-one-level.sql';
import { fencedDelete } from './fenced-delete';
import { keepFinished } from './finished-jobs.sql';
import type { QueueTables } from './identifier';
import { statement } from './statement';

const CURSOR: ClaimCursorParams = { priority: '$7', runAtMs: '$8' };

/**
 * Completes the previous batch and claims the next in one statement, one round trip and one commit: under load a
 * worker's cycle is "these are done, give me as many more", and paying a statement and a commit for each half
 * nearly halves throughput. The completion is fenced row by row exactly as `completeMany` ($5[i] with token $6[i]);
 * with retention on, the completed rows move to `finished_jobs` with the handlers' return values ($9[i], JSON text
 * or null; see `completeManyRetained`). The claim is `claimAvailable`'s ($1 to $4, its cursor $7 and $8), or with
 * `oneLevel` `claimOneLevel`'s. Rows come back as claimed jobs (done = false), then one row per completed id
 * (done = true), and for the one-level claim its several-levels row (done and id null). Both halves commit together
 * or not at all.
 */
const completeAndClaimText = (t: QueueTables, claim: 'walk' | 'one-level', retained: boolean) => {
  const done = retained
    ? `${fencedDelete(t, { ids: '$5', tokens: '$6', results: '$9' })},
kept AS (${keepFinished(t, 'done', `'completed'`, 'kept_result::jsonb')})`
    : fencedDelete(t, { ids: '$5', tokens: '$6' });
  const walk = claim === 'walk';
  return `
WITH${walk ? ' RECURSIVE' : ''} ${done},
${walk ? claimCte(t, CURSOR) : oneLevelClaimCte(t, CURSOR)},
claimed AS (${claimUpdate(t)})
SELECT false AS done, claimed.* FROM claimed
UNION ALL
SELECT true, done.id, ${CLAIMED_COLUMNS_AFTER_ID_NULLS}
FROM done${walk ? '' : `\nUNION ALL\nSELECT NULL, ${SEVERAL_LEVELS_ROW}`}`;
};

export const completeAndClaim = statement('complete-and-claim', (t) => completeAndClaimText(t, 'walk', false));
export const completeAndClaimRetained = statement('complete-and-claim-retained', (t) =>
  completeAndClaimText(t, 'walk', true),
);
export const completeAndClaimOneLevel = statement('complete-claim-one-level', (t) =>
  completeAndClaimText(t, 'one-level', false),
);
export const completeAndClaimOneLevelRetained = statement('complete-claim-one-level-retained', (t) =>
  completeAndClaimText(t, 'one-level', true),
);

/** The completion-and-claim statement for a claim that takes the one-level form or the walk, with retention or not. */
export const completeAndClaimFor = (oneLevel: boolean, retained: boolean) =>
  oneLevel
    ? retained
      ? completeAndClaimOneLevelRetained
      : completeAndClaimOneLevel
    : retained
      ? completeAndClaimRetained
      : completeAndClaim;
