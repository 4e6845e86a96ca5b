import type { QueueTables } from './identifier';
import { opaqueParam } from './opaque-param';

/** The parameters of a fenced delete: arrays of equal length, lease i being (ids[i], tokens[i], ctids[i]). */
export interface FencedDeleteParams {
  ids: string;
  tokens: string;
  /** Where the claim left each row (its `ctid` as text); null where unknown. */
  ctids: string;
  /** With retention: each completion's result (JSON text or null), returned as `kept_result`. */
  results?: string;
}

/**
 * The CTEs `by_ctid`, `by_id` and `done` of a completion: deletes the rows of the leases, each only while it still
 * carries the lease's token, and `done` returns the deleted rows (`j.id`, or `j.*` and `kept_result` with results).
 *
 * A claimed row stays where the claim wrote it until something updates it (a lease renewal, a progress write), so
 * most completions find their row by the ctid the claim returned: a TID scan, one heap page, where the primary key
 * costs a descent of its tree first. A ctid only says where to look: the row found there is deleted only if its id
 * and token are the lease's, so a row that moved, or another row that took its place once it was vacuumed, is never
 * mistaken for the job (its own id is unique). The leases not deleted that way, rows that moved or leases without a
 * ctid, are then looked up by primary key with the same fence. Both deletes see the same snapshot; `by_id` skips
 * the ids `by_ctid` deleted, so no row is deleted twice.
 */
export const fencedDelete = (t: QueueTables, p: FencedDeleteParams) => {
  // Parameters through `opaqueParam`: one generic plan per connection (TID scans, then primary-key probes), reused.
  const results = p.results === undefined ? '' : `, ${opaqueParam(p.results, 'text[]')}`;
  const leases = `${opaqueParam(p.ids, 'uuid[]')}, ${opaqueParam(p.tokens, 'uuid[]')}, ${opaqueParam(p.ctids, 'tid[]')}`;
  const columns = p.results === undefined ? '(id, token, ctid)' : '(id, token, ctid, result)';
  const returning = p.results === undefined ? 'j.id' : 'j.*, f.result AS kept_result';
  return `by_ctid AS (
  DELETE FROM ${t.jobs} j
  USING unnest(${leases}${results}) AS f${columns}
  WHERE j.ctid = f.ctid AND j.id = f.id AND j.lock_token = f.token
  RETURNING ${returning}
),
by_id AS (
  DELETE FROM ${t.jobs} j
  USING unnest(${leases}${results}) AS f${columns}
  WHERE j.id = f.id AND j.lock_token = f.token AND f.id <> ALL (ARRAY(SELECT id FROM by_ctid))
  RETURNING ${returning}
),
done AS (SELECT * FROM by_ctid UNION ALL SELECT * FROM by_id)`;
};
