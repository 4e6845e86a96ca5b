import type { QueueTables } from './identifier';
import { statement } from './statement';

/**
 * The common enqueue, outside a caller's transaction and without idempotency keys: a plain multi-row insert, about
 * half the cost of `insertJobs` (no conflict handling, no id matching). The ids ($1) are drawn by the producer
 * (time-ordered, see `producer/time-ordered-id.ts`), so no result needs matching back to its input row. The caller
 * wakes the workers after the commit.
 * $9 is each job's concurrency key (null when none), $10 its trace context (JSON text, null when none).
 */
export const insertJobsPlain = statement('insert-jobs-plain', (t) => `${insertPlain(t)}\nRETURNING ${returned}`);

/**
 * `insertJobsPlain` that also wakes the workers (`pg_notify` on channel $11, one per queue), at its own commit: for
 * an enqueue that would send its NOTIFY at once after the commit anyway (`QueueNotifier.takeTurn`), the statement
 * and the commit that NOTIFY would cost, and their round trip on the way to a worker. Never for concurrent inserts
 * as a rule: a NOTIFY takes a lock at commit that serialises every notifying transaction of the database.
 */
export const insertJobsPlainNotifying = statement(
  'insert-jobs-plain-notifying',
  (t) => `
WITH inserted AS (${insertPlain(t)}
  RETURNING ${returned}, queue),
notified AS (SELECT count(pg_notify($11, q.queue)) AS n FROM (SELECT DISTINCT queue FROM inserted) q)
SELECT inserted.id, inserted.runnable FROM inserted CROSS JOIN notified`,
);

// The delay counts from the statement, its `created_at`, as in `insertJobs` (where a caller's transaction may have
// started long before).
const returned = 'id, next_retry_at <= statement_timestamp() AS runnable';

const insertPlain = (t: QueueTables) => `
INSERT INTO ${t.jobs} (id, queue, type, payload, status, priority, max_attempts, next_retry_at, concurrency_key,
                       trace_context, created_at)
SELECT i.id, i.queue, i.type, i.payload::jsonb, 'pending', i.priority, i.max_attempts,
       coalesce(i.run_at, statement_timestamp() + i.delay_ms * interval '1 millisecond'), i.concurrency_key,
       i.trace_context::jsonb, statement_timestamp()
FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::int[], $6::int[], $7::timestamptz[], $8::bigint[],
            $9::text[], $10::text[])
     AS i(id, type, queue, payload, priority, max_attempts, run_at, delay_ms, concurrency_key, trace_context)`;
