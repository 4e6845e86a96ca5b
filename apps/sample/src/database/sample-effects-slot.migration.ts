import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `sample.effects.scheduled_for`: the slot of the job that wrote the effect (null for a job no schedule made), so the
 * schedule tests can count effects per slot. `created_at` (default now()) exists since the first sample migration.
 */
export class AddSampleEffectsSlot1764460800001 implements MigrationInterface {
  readonly name = 'AddSampleEffectsSlot1764460800001';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`SELECT pg_advisory_xact_lock(736401, hashtext('sample'))`);
    await queryRunner.query(`ALTER TABLE sample.effects ADD COLUMN IF NOT EXISTS scheduled_for timestamptz`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE sample.effects DROP COLUMN IF EXISTS scheduled_for`);
  }
}
