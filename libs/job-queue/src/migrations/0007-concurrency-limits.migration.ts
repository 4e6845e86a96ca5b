import type { QueryRunner } from 'typeorm';
import type { QueueTables } from '../sql/identifier';
import type { JobQueueMigrationStep } from './job-queue-migration';
import { claimLimitedFunction } from './claim-limited.function';

/**
 * Version 7: concurrency limits and rate limits, kept exact across instances by the database (docs/limits.md).
 * - `jobs.concurrency_key`: the key a job's per-key limits count by (a tenant, a customer). `COLLATE "C"`: the
 *   claim walks keys in byte order, and every comparison and the index agree on that order whatever the database's
 *   collation.
 * - `jobs_keyed_idx (type, concurrency_key, priority DESC, next_retry_at, created_at, id)` over pending rows that
 *   have a key: `type, concurrency_key` first so that one probe finds the next key of a type after a given key (a
 *   skip scan over keys, one descent per key, however many jobs a key holds), and the claim order after them so
 *   that a key's next job is the first entry of its range. `WHERE concurrency_key IS NOT NULL`: a job without a
 *   key never enters it, so the unlimited path pays nothing for it.
 * - `jobs_keyed_running_idx (type, concurrency_key)` over processing rows that have a key: counting a key's running
 *   jobs reads at most its limit's worth of entries. Same predicate, same reason.
 * - `rate_windows`: the starts of the last period per (type, key) ('' for the type as a whole), a sliding-window
 *   log of at most `max` timestamps per row.
 * - `limit_cursors`: per type, the key where the last claim's round-robin stopped.
 * - `claim_limited(...)`: the limited claim (see `claim-limited.function.ts`).
 * Additive: a nullable column, new indexes, tables and a function; older code neither reads nor writes them.
 */
export const concurrencyLimits: JobQueueMigrationStep = {
  version: 7,
  title: 'ConcurrencyLimits',
  additive: true,

  async up(queryRunner: QueryRunner, t: QueueTables): Promise<void> {
    await queryRunner.query(`ALTER TABLE ${t.jobs} ADD COLUMN IF NOT EXISTS concurrency_key text COLLATE "C"`);
    await queryRunner.query(`
      CREATE INDEX IF NOT EXISTS jobs_keyed_idx
      ON ${t.jobs} (type, concurrency_key, priority DESC, next_retry_at, created_at, id)
      WHERE status = 'pending' AND concurrency_key IS NOT NULL`);
    await queryRunner.query(`
      CREATE INDEX IF NOT EXISTS jobs_keyed_running_idx ON ${t.jobs} (type, concurrency_key)
      WHERE status = 'processing' AND concurrency_key IS NOT NULL`);
    await queryRunner.query(`
      CREATE TABLE IF NOT EXISTS ${t.schema}.rate_windows (
        type   text          NOT NULL,
        key    text          COLLATE "C" NOT NULL,
        starts timestamptz[] NOT NULL,
        PRIMARY KEY (type, key)
      )`);
    await queryRunner.query(`
      CREATE TABLE IF NOT EXISTS ${t.schema}.limit_cursors (
        type     text PRIMARY KEY,
        last_key text COLLATE "C"
      )`);
    await queryRunner.query(claimLimitedFunction(t, 7));
  },

  async down(queryRunner: QueryRunner, t: QueueTables): Promise<void> {
    await queryRunner.query(`DROP FUNCTION IF EXISTS ${t.schema}.claim_limited`);
    await queryRunner.query(`DROP TABLE IF EXISTS ${t.schema}.limit_cursors`);
    await queryRunner.query(`DROP TABLE IF EXISTS ${t.schema}.rate_windows`);
    await queryRunner.query(`DROP INDEX IF EXISTS ${t.schema}.jobs_keyed_running_idx`);
    await queryRunner.query(`DROP INDEX IF EXISTS ${t.schema}.jobs_keyed_idx`);
    await queryRunner.query(`ALTER TABLE ${t.jobs} DROP COLUMN IF EXISTS concurrency_key`);
  },
};
