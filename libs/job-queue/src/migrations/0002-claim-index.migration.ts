import type { QueryRunner } from 'typeorm';
import type { QueueTables } from '../sql/identifier';
import type { JobQueueMigrationStep } from './job-queue-migration';

/**
 * Version 2: the claim index leads with queue and type, so a claim reads only the rows it can take.
 *
 * `jobs_claim_idx (priority DESC, next_retry_at, created_at)` mixed every queue and type in one order: a claim for
 * type A walked, and filtered out, every pending row of type B ahead of A's (a backlog of another service, a paused
 * consumer, a type with its own concurrency), and every high-priority row scheduled far in the future. Its cost grew
 * with rows it could never take. `jobs_available_idx` is walked by `claim-available.sql.ts` in short index probes
 * (see there), which this column order makes possible:
 * - `queue, type` first: a probe is confined to one (queue, type) pair the instance serves; other pairs are never
 *   read. The claim merges the pairs it serves in claim order itself, one row at a time.
 * - `priority DESC` next: the claim takes one priority level at a time, highest first, and finds the next level by
 *   one probe (`priority < level`, the first entry).
 * - `next_retry_at` next: within a (queue, type, priority) level, due rows are a contiguous range that ends at
 *   `now()`, so `next_retry_at <= now()` bounds the probe: jobs scheduled in the future are never walked, whatever
 *   their number or priority.
 * - `created_at, id` last: FIFO among rows due at the same moment (a batch enqueue shares one `now()`), and `id`
 *   makes the key unique, so each probe starts strictly after the row the previous one returned (a keyset) and
 *   never re-reads the entries before it.
 * The partial predicate keeps claimed (`processing`) rows out, so the index is as large as the pending set.
 *
 * Not additive: it drops `jobs_claim_idx`, the index the claim of older releases reads in order; without it their
 * claim would sort the whole backlog on every call. (Keeping both for a release, then dropping the old one in a
 * later step, would let old and new run side by side at the cost of maintaining both indexes meanwhile.)
 *
 * Built without CONCURRENTLY (migrations run in a transaction): the build holds a SHARE lock on `jobs`, which blocks
 * inserts and claims for its duration (seconds per million pending rows). Both statements are idempotent.
 */
export const claimIndex: JobQueueMigrationStep = {
  version: 2,
  title: 'ClaimIndex',
  additive: false,

  async up(queryRunner: QueryRunner, t: QueueTables): Promise<void> {
    await queryRunner.query(`
      CREATE INDEX IF NOT EXISTS jobs_available_idx
      ON ${t.jobs} (queue, type, priority DESC, next_retry_at, created_at, id)
      WHERE status = 'pending'`);
    // Nothing reads the old index any more, and every insert and claim would keep paying for it.
    await queryRunner.query(`DROP INDEX IF EXISTS ${t.schema}.jobs_claim_idx`);
  },

  async down(queryRunner: QueryRunner, t: QueueTables): Promise<void> {
    await queryRunner.query(`
      CREATE INDEX IF NOT EXISTS jobs_claim_idx ON ${t.jobs} (priority DESC, next_retry_at, created_at)
      WHERE status = 'pending'`);
    await queryRunner.query(`DROP INDEX IF EXISTS ${t.schema}.jobs_available_idx`);
  },
};
