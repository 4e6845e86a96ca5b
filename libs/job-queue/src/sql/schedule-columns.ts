/**
 * now() to the millisecond, for `last_slot`: callers read it back as a JavaScript number of milliseconds and send it
 * back as the compare-and-set's expected value, which must equal the stored value exactly.
 */
export const NOW_MS = `date_trunc('milliseconds', now())`;

/** The columns every schedule statement returns, times as epoch milliseconds (see `claim-available.sql.ts`). */
export const scheduleColumns = (alias: string) => `
  ${alias}.name, ${alias}.cron, ${alias}.timezone, ${alias}.type, ${alias}.queue, ${alias}.payload, ${alias}.priority,
  ${alias}.max_attempts, ${alias}.overlap, ${alias}.catch_up, ${alias}.backfill_limit, ${alias}.paused,
  ${alias}.source, ${alias}.definition_hash,
  (extract(epoch FROM ${alias}.last_slot) * 1000)::float8 AS last_slot_ms,
  (extract(epoch FROM ${alias}.last_fired_slot) * 1000)::float8 AS last_fired_slot_ms,
  (extract(epoch FROM now()) * 1000)::float8 AS now_ms`;

/**
 * Deletes the jobs a schedule enqueued ahead of their slot and that have not started (`attempt_count = 0`, still
 * due at their slot, and the slot in the future), for a schedule removed, paused or redefined: they belong to a
 * definition that no longer holds. A retry of an earlier slot (attempt_count > 0) is left to finish.
 */
export const aheadJobsOf = (jobs: string, scheduleName: string, when: string) => `
  DELETE FROM ${jobs} j
  WHERE j.schedule_name = ${scheduleName} AND j.status = 'pending' AND j.attempt_count = 0
    AND j.next_retry_at = j.scheduled_for AND j.next_retry_at > now()
    AND ${when}
  RETURNING j.id`;
