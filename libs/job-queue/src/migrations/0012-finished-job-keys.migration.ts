import type { QueryRunner } from 'typeorm';
import type { QueueTables } from '../sql/identifier';
import type { JobQueueMigrationStep } from './job-queue-migration';

/**
 * Version 12: `finished_jobs.concurrency_key` and `finished_jobs.trace_context`, kept when a job finishes with
 * retention on, so that a cancelled job retried under its id (`retry-cancelled`) comes back with them: without its
 * key it would run outside its per-key limits. `dead_jobs` needs no column: its `snapshot` holds the whole row.
 * Additive: nullable columns without a default are a catalog change only, and an older release names the columns
 * it writes (its rows keep neither, as before).
 */
export const finishedJobKeys: JobQueueMigrationStep = {
  version: 12,
  title: 'FinishedJobKeys',
  additive: true,

  async up(queryRunner: QueryRunner, t: QueueTables): Promise<void> {
    await queryRunner.query(`
      ALTER TABLE ${t.finishedJobs}
        ADD COLUMN IF NOT EXISTS concurrency_key text COLLATE "C",
        ADD COLUMN IF NOT EXISTS trace_context jsonb`);
  },

  async down(queryRunner: QueryRunner, t: QueueTables): Promise<void> {
    await queryRunner.query(`
      ALTER TABLE ${t.finishedJobs} DROP COLUMN IF EXISTS concurrency_key, DROP COLUMN IF EXISTS trace_context`);
  },
};
