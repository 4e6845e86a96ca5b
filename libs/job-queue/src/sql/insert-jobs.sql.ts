import { statement } from './statement';

/**
 * Inserts many jobs in one statement and returns one id per input row, in input order.
 *
 * The ids ($13, one per input row) are drawn by the producer, time-ordered (`producer/time-ordered-id.ts`): a new
 * row's primary-key entry goes to the key's right edge, not to a random leaf. A row whose key is taken discards its id.
 * An idempotency key held by a live job (or by an earlier row of the same batch) inserts nothing and returns that
 * job's id. With $10 true, `pg_notify` wakes listening workers when the surrounding transaction commits (the
 * caller's transaction), delayed jobs included (a woken worker learns their due time from its next-due probe and
 * wakes when they are due); PostgreSQL folds identical notifications of one
 * transaction into one. With $10 false the caller notifies after the commit itself: a NOTIFY takes a lock at
 * commit that serialises every notifying transaction of the database, so concurrent autocommit inserts that
 * each notified would lose PostgreSQL's group commit. `runnable` tells the caller which queues to wake.
 * A row whose key belongs to a job committed after this statement's snapshot comes back with a null id; the caller
 * runs the statement again for those rows only (the others are written).
 *
 * Rows are inserted in key order (bytewise, then input order; unkeyed rows last): an insert whose key another
 * uncommitted transaction holds waits for it, so two statements holding the same keys in different orders could each
 * wait for the other (a deadlock). In one order, a statement only ever waits for one that is ahead of it.
 * $11 is each job's concurrency key (null when none), $12 its trace context (JSON text, null when none: see
 * `tracing/trace-context.ts`).
 *
 * A delay counts from `statement_timestamp()`, the enqueue itself, which is also its `created_at`: in a caller's
 * transaction `now()` is the start of that transaction, and a job enqueued after seconds of work would be due before
 * it was even committed.
 */
export const insertJobs = statement(
  'insert-jobs',
  (t) => `
WITH input AS MATERIALIZED (
  SELECT i.*
  FROM unnest($13::uuid[], $1::text[], $2::text[], $3::text[], $4::int[], $5::int[], $6::timestamptz[], $7::bigint[],
              $8::text[], $11::text[], $12::text[])
       WITH ORDINALITY AS i(id, type, queue, payload, priority, max_attempts, run_at, delay_ms, idempotency_key,
                            concurrency_key, trace_context, ord)
),
inserted AS (
  INSERT INTO ${t.jobs} (id, queue, type, payload, status, priority, max_attempts, next_retry_at, idempotency_key,
                         concurrency_key, trace_context, created_at)
  SELECT id, queue, type, payload::jsonb, 'pending', priority, max_attempts,
         coalesce(run_at, statement_timestamp() + delay_ms * interval '1 millisecond'), idempotency_key,
         concurrency_key, trace_context::jsonb, statement_timestamp()
  FROM input
  ORDER BY idempotency_key COLLATE "C", ord
  ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
  RETURNING id, queue, idempotency_key, next_retry_at
),
notified AS (
  SELECT count(pg_notify($9, q.queue)) AS n
  FROM (SELECT DISTINCT queue FROM inserted WHERE $10::boolean) q
)
SELECT coalesce(ins.id, twin.id, live.id) AS id, ins.id IS NOT NULL AS created,
       coalesce(ins.next_retry_at <= statement_timestamp(), false) AS runnable, n.n
FROM input
CROSS JOIN notified n
LEFT JOIN inserted ins ON ins.id = input.id
LEFT JOIN inserted twin ON ins.id IS NULL AND twin.idempotency_key = input.idempotency_key
LEFT JOIN ${t.jobs} live ON ins.id IS NULL AND twin.id IS NULL AND live.idempotency_key = input.idempotency_key
ORDER BY input.ord`,
);
