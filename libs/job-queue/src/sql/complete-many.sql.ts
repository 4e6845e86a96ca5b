import { fencedDelete } from './fenced-delete';
import { statement } from './statement';

/**
 * Deletes the rows of finished jobs, fenced row by row: a row counts only when its lock token is still the
 * attempt's, $2[i] for $1[i] (`fenced-delete.ts`). Returned ids were completed; a missing id lost its lease to
 * another instance.
 */
export const completeMany = statement(
  'complete-many',
  (t) => `
WITH ${fencedDelete(t, { ids: '$1', tokens: '$2' })}
SELECT id FROM done`,
);
