import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The sample's own table: one row per effect of `demo.record`. No unique constraint on purpose: a job whose
 * effect happened twice shows up as two rows, which is what the crash tests look for.
 */
export class CreateSampleEffects1764288000001 implements MigrationInterface {
  readonly name = 'CreateSampleEffects1764288000001';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`SELECT pg_advisory_xact_lock(736401, hashtext('sample'))`);
    await queryRunner.query(`CREATE SCHEMA IF NOT EXISTS sample`);
    await queryRunner.query(`
      CREATE TABLE IF NOT EXISTS sample.effects (
        id          bigserial   PRIMARY KEY,
        job_id      uuid        NOT NULL,
        instance_id text        NOT NULL,
        attempt     int         NOT NULL,
        created_at  timestamptz NOT NULL DEFAULT now()
      )`);
    await queryRunner.query(`CREATE INDEX IF NOT EXISTS effects_job_id_idx ON sample.effects (job_id)`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE IF EXISTS sample.effects`);
  }
}
