import { keepFinished } from './finished-jobs.sql';
import { opaqueParam } from './opaque-param';
import { statement } from './statement';

/**
 * `completeMany` with retention on: the fenced DELETE moves each completed row to `finished_jobs` with the
 * handler's return value ($3[i], JSON text or null), in the same statement. Returns the ids whose lease held.
 */
export const completeManyRetained = statement(
  'complete-many-retained',
  (t) => `
WITH d AS (
  DELETE FROM ${t.jobs} j
  USING unnest(${opaqueParam('$1', 'uuid[]')}, ${opaqueParam('$2', 'uuid[]')}, ${opaqueParam('$3', 'text[]')}) AS f(
    id, token, result)
  WHERE j.id = f.id AND j.lock_token = f.token
  RETURNING j.*, f.result AS kept_result
),
k AS (${keepFinished(t, 'd', `'completed'`, 'kept_result::jsonb')})
SELECT id FROM d`,
);
