import { opaqueParam } from './opaque-param';
import { statement } from './statement';

/**
 * Deletes the rows of finished jobs, fenced row by row: a row counts only when its lock token is still the
 * attempt's ($2[i] for $1[i]). Returned ids were completed; a missing id lost its lease to another instance.
 * Its parameters reach the planner through `opaqueParam`: one generic plan (a primary-key probe per id) per
 * connection, not a plan per execution.
 */
export const completeMany = statement(
  'complete-many',
  (t) => `
DELETE FROM ${t.jobs} j
USING unnest(${opaqueParam('$1', 'uuid[]')}, ${opaqueParam('$2', 'uuid[]')}) AS f(id, token)
WHERE j.id = f.id AND j.lock_token = f.token
RETURNING j.id`,
);
