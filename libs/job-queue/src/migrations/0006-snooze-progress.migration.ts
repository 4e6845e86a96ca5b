import type { QueryRunner } from 'typeorm';
import type { QueueTables } from '../sql/identifier';
import type { JobQueueMigrationStep } from './job-queue-migration';

/**
 * Version 6: `jobs.snooze_count` (how many times the job's handler snoozed it, capped by `maxSnoozes`) and
 * `jobs.progress` (the last progress value its running attempt reported). Additive: a column with a constant
 * default is a catalog change only (PostgreSQL 11+, no table rewrite), a nullable one too, and older releases
 * neither read nor write them. No index: both are read by id only, and an unindexed column keeps the frequent
 * progress updates HOT (no index entries to write). `dead_jobs` needs no column: its snapshot is the whole row.
 */
export const snoozeProgress: JobQueueMigrationStep = {
  version: 6,
  title: 'SnoozeProgress',
  additive: true,

  async up(queryRunner: QueryRunner, t: QueueTables): Promise<void> {
    await queryRunner.query(`
      ALTER TABLE ${t.jobs}
        ADD COLUMN IF NOT EXISTS snooze_count int NOT NULL DEFAULT 0,
        ADD COLUMN IF NOT EXISTS progress jsonb`);
  },

  async down(queryRunner: QueryRunner, t: QueueTables): Promise<void> {
    await queryRunner.query(`ALTER TABLE ${t.jobs} DROP COLUMN IF EXISTS progress, DROP COLUMN IF EXISTS snooze_count`);
  },
};
