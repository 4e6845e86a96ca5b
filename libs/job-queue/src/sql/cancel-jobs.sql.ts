import { keepFinished } from './finished-jobs.sql';
import type { QueueTables } from './identifier';
import { statement } from './statement';

/**
 * Cancels jobs $1 (at most `CANCEL_BATCH`): deletes their rows from `jobs`, pending or processing, and, with
 * retention on ($3), keeps them in `finished_jobs` as `cancelled`, all in one statement. A processing job's
 * lease is gone with its row, so nothing its attempt does afterwards can complete, retry or dead-letter it: every
 * finishing statement is fenced by the row's lock token.
 *
 * The instances holding processing jobs are told on commit (channel $2, `!cancel <id>,<id>…`, a payload no queue
 * name can take) to abort their handlers now, or drop them from their local queue unstarted; the heartbeat finds
 * the lost lease otherwise. The message also names rows this statement could not lock: a transactional handler's
 * transaction holds its row until it ends, and the message makes it roll back instead of committing.
 *
 * Processing rows are read both as deleted (`d`, the version the DELETE took, which may be newer than the statement's
 * snapshot after a wait: a claim that committed meanwhile) and as the snapshot shows them (the locked ones).
 * Rows are taken `SKIP LOCKED` (`cancelJobs`), so a cancel never waits behind a running transaction, or waiting
 * (`cancelJobsWaiting`, under a lock timeout) for the rows the first pass skipped, once their holders were told.
 * Rows come back as cancelled jobs, plus one row with a null id when a message was sent.
 */
const cancel = (t: QueueTables, lock: string) => `
WITH l AS MATERIALIZED (
  SELECT id FROM ${t.jobs} WHERE id = ANY ($1::uuid[]) ${lock}
),
d AS (DELETE FROM ${t.jobs} WHERE id = ANY (ARRAY(SELECT id FROM l)) RETURNING *),
k AS (${keepFinished(t, '(SELECT * FROM d WHERE $3) kept', `'cancelled'`, 'NULL::jsonb')}),
n AS (
  SELECT pg_notify($2, '!cancel ' || string_agg(id::text, ',')) FROM (
    SELECT id FROM d WHERE status = 'processing'
    UNION
    SELECT id FROM ${t.jobs} WHERE id = ANY ($1::uuid[]) AND status = 'processing'
  ) p
  HAVING count(*) > 0
)
SELECT d.id, d.queue, d.type, d.status FROM d
UNION ALL
SELECT NULL, NULL, NULL, NULL FROM n`;

/** Ids per cancel statement: the message naming them stays far below NOTIFY's 8000-byte payload limit. */
export const CANCEL_BATCH = 100;

export const cancelJobs = statement('cancel-jobs', (t) => cancel(t, 'FOR UPDATE SKIP LOCKED'));

export const cancelJobsWaiting = statement('cancel-jobs-waiting', (t) => cancel(t, 'FOR UPDATE'));
