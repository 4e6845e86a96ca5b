import type { QueryRunner } from 'typeorm';
import type { QueueTables } from '../sql/identifier';
import type { JobQueueMigrationStep } from './job-queue-migration';

/**
 * Version 5: `queues`, the paused flag of each queue, and `finished_jobs`, where completed and cancelled jobs stay
 * queryable when retention is on. Additive: two new tables that older releases never read; an older instance
 * beside a newer one ignores a pause (it claims paused queues) until it is replaced.
 *
 * `queues` holds a row only for a queue that was ever paused or resumed: a handful of rows, read whole by every
 * claim (`paused` filtered on the rows), so no index beyond the key is worth its upkeep.
 *
 * `finished_jobs` keeps the hot `jobs` table and its indexes as they are: with retention on, a completion moves
 * the row here in the same statement that deletes it. Its indexes:
 * - the key, `id`: a lookup by id, and the keyset order of the listings (`id > $after ORDER BY id`), which
 *   read the key in order and stop after a page;
 * - `finished_jobs_finished_at_idx (finished_at, id)`: the pruner's range of expired rows, oldest first, in
 *   batches; `id` makes each entry unique, so a batch's order is stable.
 */
export const queueControl: JobQueueMigrationStep = {
  version: 5,
  title: 'QueueControl',
  additive: true,

  async up(queryRunner: QueryRunner, t: QueueTables): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE IF NOT EXISTS ${t.queues} (
        name       text        PRIMARY KEY,
        paused     boolean     NOT NULL DEFAULT false,
        paused_at  timestamptz,
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await queryRunner.query(`
      CREATE TABLE IF NOT EXISTS ${t.finishedJobs} (
        id              uuid        PRIMARY KEY,
        queue           text        NOT NULL,
        type            text        NOT NULL,
        payload         jsonb       NOT NULL,
        status          text        NOT NULL CHECK (status IN ('completed', 'cancelled')),
        priority        int         NOT NULL,
        attempt_count   int         NOT NULL,
        max_attempts    int         NOT NULL,
        next_retry_at   timestamptz NOT NULL,
        started_at      timestamptz,
        locked_by       text,
        last_error      text,
        idempotency_key text,
        result          jsonb,
        created_at      timestamptz NOT NULL,
        finished_at     timestamptz NOT NULL DEFAULT now()
      )`);
    await queryRunner.query(`
      CREATE INDEX IF NOT EXISTS finished_jobs_finished_at_idx ON ${t.finishedJobs} (finished_at, id)`);
  },

  async down(queryRunner: QueryRunner, t: QueueTables): Promise<void> {
    await queryRunner.query(`DROP TABLE IF EXISTS ${t.finishedJobs}`);
    await queryRunner.query(`DROP TABLE IF EXISTS ${t.queues}`);
  },
};
