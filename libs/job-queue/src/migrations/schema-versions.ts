import type { QueryRunner } from 'typeorm';
import type { QueueTables } from '../sql/identifier';

/**
 * The chain's own record, in the queue's schema: one row per step applied, with whether it is additive. TypeORM's
 * migrations table says which migrations ran, but its name is the app's choice and the CLI may run with another
 * DataSource than the app's; this table travels with the schema, so every instance, of any release, reads the same
 * answer. It is created by the first step that records itself: a database migrated before the chain has none, and
 * its tables stand for version 1.
 */
export async function recordVersion(
  queryRunner: QueryRunner,
  t: QueueTables,
  step: { version: number; additive: boolean },
  name: string,
): Promise<void> {
  await queryRunner.query(`
    CREATE TABLE IF NOT EXISTS ${t.schemaVersions} (
      version    int         PRIMARY KEY,
      name       text        NOT NULL,
      additive   boolean     NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
  // Idempotent: TypeORM's own runner (CLI, migrationsRun) does not lock before it reads what ran, so two
  // instances may both run a step; the second waits on the advisory lock, then repeats a no-op.
  await queryRunner.query(
    `INSERT INTO ${t.schemaVersions} (version, name, additive) VALUES ($1, $2, $3)
     ON CONFLICT (version) DO UPDATE SET name = EXCLUDED.name, additive = EXCLUDED.additive`,
    [step.version, name, step.additive],
  );
}

/** Forgets a reverted step (the table is gone once version 1 is reverted: nothing left to forget). */
export async function forgetVersion(queryRunner: QueryRunner, t: QueueTables, version: number): Promise<void> {
  const [{ present }] = (await queryRunner.query(`SELECT to_regclass($1) IS NOT NULL AS present`, [
    t.schemaVersions,
  ])) as Array<{ present: boolean }>;
  if (present) await queryRunner.query(`DELETE FROM ${t.schemaVersions} WHERE version = $1`, [version]);
}
