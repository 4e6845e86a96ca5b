import { fencedDelete } from './fenced-delete';
import { keepFinished } from './finished-jobs.sql';
import { statement } from './statement';

/**
 * `completeMany` with retention on: the fenced DELETE moves each completed row to `finished_jobs` with the
 * handler's return value ($3[i], JSON text or null), in the same statement. Returns the ids whose lease held.
 */
export const completeManyRetained = statement(
  'complete-many-retained',
  (t) => `
WITH ${fencedDelete(t, { ids: '$1', tokens: '$2', results: '$3' })},
k AS (${keepFinished(t, 'done', `'completed'`, 'kept_result::jsonb')})
SELECT id FROM done`,
);
