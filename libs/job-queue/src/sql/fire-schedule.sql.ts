import { statement } from './statement';

/**
 * Creates a schedule's jobs for its slots ($4, possibly none) and moves its `last_slot` from $2 (what the caller
 * read) to $3, in one statement. The UPDATE is a compare-and-set: of the instances that fire the same slots at
 * once, the row lock lets one through, and the others re-check the WHERE against its committed row and match
 * nothing, so they insert nothing. `last_slot` stays when the slot's job is deleted on completion, so a slot can
 * never be created twice, however late an instance fires it. The definition hash ($5) fences out an instance that
 * planned with a definition changed meanwhile; a paused schedule fires nothing.
 *
 * Overlap `skip`: while a job of the schedule is pending or processing (through `jobs_schedule_slot_idx`), the
 * slots are passed (last_slot moves on) without a job; the caller sends one slot at most (`planSlots`), since the
 * check comes before the insert and every slot of $4 would get a job. Each job is due at its slot (`next_retry_at`),
 * so a slot created ahead of time waits in the table and starts on time. Every instance serving the queue is woken
 * (`pg_notify`, $7), also for a job due later: it learns the job's due time from its next-due probe.
 */
export const fireSchedule = statement(
  'fire-schedule',
  (t) => `
WITH busy AS (
  SELECT EXISTS (
    SELECT 1 FROM ${t.jobs} j WHERE j.schedule_name = $1 AND j.status IN ('pending', 'processing')
  ) AS live
),
advanced AS (
  UPDATE ${t.schedules} s
  SET last_slot = $3, updated_at = now(),
      last_fired_slot = CASE WHEN cardinality($4::timestamptz[]) > 0 AND (s.overlap = 'allow' OR NOT b.live)
                             THEN ($4::timestamptz[])[cardinality($4::timestamptz[])]
                             ELSE s.last_fired_slot END
  FROM busy b
  WHERE s.name = $1 AND s.last_slot IS NOT DISTINCT FROM $2 AND s.definition_hash = $5 AND NOT s.paused
  RETURNING s.name, s.type, s.queue, s.payload, s.priority, s.max_attempts, s.overlap, b.live
),
inserted AS (
  INSERT INTO ${t.jobs} (queue, type, payload, status, priority, max_attempts, next_retry_at, schedule_name,
                         scheduled_for)
  SELECT a.queue, a.type, a.payload, 'pending', a.priority, coalesce(a.max_attempts, $6), slot, a.name, slot
  FROM advanced a CROSS JOIN unnest($4::timestamptz[]) AS slot
  WHERE a.overlap = 'allow' OR NOT a.live
  ON CONFLICT (schedule_name, scheduled_for) WHERE schedule_name IS NOT NULL DO NOTHING
  RETURNING queue
),
notified AS (SELECT count(pg_notify($7, q.queue)) AS n FROM (SELECT DISTINCT queue FROM inserted) q)
SELECT (SELECT count(*) FROM advanced)::int AS won, (SELECT count(*) FROM inserted)::int AS created,
       (SELECT n FROM notified) AS notified, (extract(epoch FROM now()) * 1000)::float8 AS now_ms`,
);
