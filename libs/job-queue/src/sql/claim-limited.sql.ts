import type { QueueTables } from './identifier';
import { statement } from './statement';

/**
 * The claim of one type with limits: the schema's `claim_limited` function (migrations 7, 9, 10 and 11,
 * `migrations/claim-limited.function.ts`), which writes the completions it is given, then takes the type's limit
 * lock and claims within the limits, in one round trip. Columns come back under the names a claim's rows have, all
 * from the function: it reads the claimed rows after its lock, where this statement's own snapshot was taken before
 * the lock wait and would see them stale (or not at all, for a job inserted meanwhile).
 * $1 lock key, $2 queues, $3 type, $4 free slots, $5 instance, $6/$7 completed ids and tokens, $8 global
 * concurrency, $9 per-key concurrency, $10 rate max, $11 rate period (ms), $12 rate per key, $13 keys visited at most.
 */
/**
 * The queues of $2 that are not paused, read in this statement's snapshot: a limited claim that starts after a
 * pause commits takes nothing of that queue, as the plain claim does (see `claim-available.sql.ts`).
 */
const unpausedQueues = (t: QueueTables) =>
  `ARRAY(SELECT q FROM unnest($2::text[]) q WHERE q <> ALL (ARRAY(SELECT name FROM ${t.queues} WHERE paused)))`;

export const claimLimited = statement(
  'claim-limited',
  (t) => `
SELECT r_done AS done, r_id AS id, r_queue AS queue, r_type AS type, r_payload AS payload, r_priority AS priority,
       r_attempt_count AS attempt_count, r_max_attempts AS max_attempts, r_lock_token AS lock_token,
       r_created_at_ms AS created_at_ms, r_claimed_at_ms AS claimed_at_ms, r_run_at_ms AS run_at_ms,
       r_wake_in_ms AS wake_in_ms, r_held AS held, r_scheduled_for_ms AS scheduled_for_ms,
       r_snooze_count AS snooze_count, r_trace_context AS trace_context
FROM ${t.schema}.claim_limited($1::bigint, ${unpausedQueues(t)}, $3::text, $4::int, $5::text, $6::uuid[], $7::uuid[], $8::int,
                               $9::int, $10::int, $11::int, $12::boolean, $13::int)`,
);
