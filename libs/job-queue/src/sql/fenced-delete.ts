import type { QueueTables } from './identifier';
import { opaqueParam } from './opaque-param';

/** The parameters of a fenced delete: arrays of equal length, lease i being (ids[i], tokens[i]). */
export interface FencedDeleteParams {
  ids: string;
  tokens: string;
  /** With retention: each completion's result (JSON text or null), returned as `kept_result`. */
  results?: string;
}

/**
 * The CTE `done` of a completion: deletes the rows of the leases, each only while it still carries the lease's
 * token, and returns the deleted rows (`j.id`, or `j.*` and `kept_result` with results). A lease whose row is gone or
 * carries another token (it lost its lease) deletes nothing and is not returned.
 *
 * Rows are found by primary key. Finding them first at the ctid the claim returned reads fewer buffers (a TID scan
 * is one heap page), but costs more time: the ctids to send and parse, a second DELETE for the rows that moved, and
 * the check that it skips what the first deleted. Batches of 250 completions, alternated on one table
 * (`FORMS=completion node bench/statement-forms.js`): 7.8–8.3 µs a job by primary key against 10.8–11.0 by ctid first.
 */
export const fencedDelete = (t: QueueTables, p: FencedDeleteParams) => {
  // Parameters through `opaqueParam`: one generic plan per connection (primary-key probes), reused.
  const results = p.results === undefined ? '' : `, ${opaqueParam(p.results, 'text[]')}`;
  const leases = `${opaqueParam(p.ids, 'uuid[]')}, ${opaqueParam(p.tokens, 'uuid[]')}`;
  const columns = p.results === undefined ? '(id, token)' : '(id, token, result)';
  const returning = p.results === undefined ? 'j.id' : 'j.*, f.result AS kept_result';
  return `done AS (
  DELETE FROM ${t.jobs} j
  USING unnest(${leases}${results}) AS f${columns}
  WHERE j.id = f.id AND j.lock_token = f.token
  RETURNING ${returning}
)`;
};
