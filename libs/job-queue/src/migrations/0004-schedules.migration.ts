import type { QueryRunner } from 'typeorm';
import type { QueueTables } from '../sql/identifier';
import type { JobQueueMigrationStep } from './job-queue-migration';

/**
 * Version 4: recurring jobs. `schedules` holds one row per schedule, declared in code or created at run time;
 * `jobs` gains the slot a scheduled job was made for (`schedule_name`, `scheduled_for`).
 * Additive: a new table and two nullable columns that older releases neither read nor write (their inserts leave
 * them null), so they keep running beside it during a rolling deploy; they just do not fire schedules.
 */
export const schedules: JobQueueMigrationStep = {
  version: 4,
  title: 'Schedules',
  additive: true,

  async up(queryRunner: QueryRunner, t: QueueTables): Promise<void> {
    // last_slot is the exactly-once key: an instance creates a slot's job only in the statement that moves
    // last_slot from the value it read to the slot (a compare-and-set), so a slot whose job already completed and
    // was deleted can never be created again. definition_hash fences that statement against a definition changed
    // by another instance meanwhile; superseded_hashes keeps an older deploy from bringing back a replaced
    // definition. A handful of rows read whole: no index beyond the key.
    await queryRunner.query(`
      CREATE TABLE IF NOT EXISTS ${t.schedules} (
        name              text        PRIMARY KEY,
        cron              text        NOT NULL,
        timezone          text        NOT NULL DEFAULT 'UTC',
        type              text        NOT NULL,
        queue             text        NOT NULL DEFAULT 'default',
        payload           jsonb       NOT NULL DEFAULT '{}'::jsonb,
        priority          int         NOT NULL DEFAULT 0,
        max_attempts      int,
        overlap           text        NOT NULL DEFAULT 'allow' CHECK (overlap IN ('allow', 'skip')),
        catch_up          text        NOT NULL DEFAULT 'latest' CHECK (catch_up IN ('skip', 'latest', 'backfill')),
        backfill_limit    int         NOT NULL DEFAULT 0,
        paused            boolean     NOT NULL DEFAULT false,
        source            text        NOT NULL CHECK (source IN ('code', 'runtime')),
        definition_hash   text        NOT NULL,
        superseded_hashes text[]      NOT NULL DEFAULT '{}',
        last_slot         timestamptz,
        last_fired_slot   timestamptz,
        created_at        timestamptz NOT NULL DEFAULT now(),
        updated_at        timestamptz NOT NULL DEFAULT now()
      )`);
    // Nullable without a default: a catalog change only, no rewrite of a large jobs table.
    await queryRunner.query(`ALTER TABLE ${t.jobs} ADD COLUMN IF NOT EXISTS schedule_name text`);
    await queryRunner.query(`ALTER TABLE ${t.jobs} ADD COLUMN IF NOT EXISTS scheduled_for timestamptz`);
    // Partial: only scheduled jobs carry an entry, so plain jobs pay nothing for it. A second guard behind the
    // compare-and-set on last_slot, and the probe of the overlap check (is a job of this schedule still live?).
    // Its build reads the jobs table once and holds off inserts meanwhile (seconds per million rows), like step 2's.
    await queryRunner.query(`
      CREATE UNIQUE INDEX IF NOT EXISTS jobs_schedule_slot_idx
        ON ${t.jobs} (schedule_name, scheduled_for) WHERE schedule_name IS NOT NULL`);
  },

  async down(queryRunner: QueryRunner, t: QueueTables): Promise<void> {
    await queryRunner.query(`DROP INDEX IF EXISTS ${t.schema}.jobs_schedule_slot_idx`);
    await queryRunner.query(`ALTER TABLE ${t.jobs} DROP COLUMN IF EXISTS scheduled_for`);
    await queryRunner.query(`ALTER TABLE ${t.jobs} DROP COLUMN IF EXISTS schedule_name`);
    await queryRunner.query(`DROP TABLE IF EXISTS ${t.schedules}`);
  },
};
