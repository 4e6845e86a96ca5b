import type { DataSource, MigrationInterface, QueryRunner } from 'typeorm';
import { createJobQueueMigrations } from './index';
import { MIGRATION_LOCK_SQL } from './migration-lock';

/**
 * Runs migrations at start, safely when several instances start at the same moment: one transaction that first
 * takes an advisory lock on the migrations table, then reads what ran, runs the rest and records them. A second
 * instance waits on the lock, then finds the work recorded. (TypeORM's own runner reads before it could lock, so
 * two instances would both run, and race creating its migrations table.) Records use TypeORM's table and format,
 * so the TypeORM CLI agrees about what ran.
 */
export async function runMigrationsExclusively(
  dataSource: DataSource,
  migrations: MigrationInterface[],
): Promise<string[]> {
  const table = `"${(dataSource.options.migrationsTableName ?? 'migrations').replace(/"/g, '""')}"`;
  const runner = dataSource.createQueryRunner();
  const ran: string[] = [];
  try {
    await runner.startTransaction();
    await runner.query(MIGRATION_LOCK_SQL, [table]);
    await createMigrationsTableIfMissing(runner, table);
    const recorded = (await runner.query(`SELECT name FROM ${table}`)) as Array<{ name: string }>;
    const done = new Set(recorded.map((r) => r.name));
    for (const migration of migrations) {
      const name = migration.name ?? migration.constructor.name;
      if (done.has(name)) continue;
      await migration.up(runner);
      await runner.query(`INSERT INTO ${table} ("timestamp", name) VALUES ($1, $2)`, [Number(name.slice(-13)), name]);
      ran.push(name);
    }
    await runner.commitTransaction();
    return ran;
  } catch (error) {
    if (runner.isTransactionActive) await runner.rollbackTransaction().catch(() => undefined);
    throw error;
  } finally {
    await runner.release();
  }
}

/**
 * Creates the migrations table only when the name does not resolve to a table yet, under the caller's lock. `CREATE
 * TABLE IF NOT EXISTS` alone would not do: PostgreSQL checks CREATE on the schema before it looks for the table, so
 * a role that may only use the migrated tables (on PostgreSQL 15+ `public` no longer grants CREATE to everyone)
 * could not start even with nothing to migrate. (TypeORM's runner, too, looks before it creates.) The lookup is the
 * one the reads and inserts that follow make, along the search path; the lock makes it safe between instances.
 */
async function createMigrationsTableIfMissing(runner: QueryRunner, table: string): Promise<void> {
  const [{ present }] = (await runner.query(`SELECT to_regclass($1) IS NOT NULL AS present`, [table])) as Array<{
    present: boolean;
  }>;
  if (present) return;
  await runner.query(
    `CREATE TABLE IF NOT EXISTS ${table} (id SERIAL PRIMARY KEY, "timestamp" bigint NOT NULL, name varchar NOT NULL)`,
  );
}

/** Runs the library's own migrations for `schema` (what `runMigrations: true` does at start). */
export function runJobQueueMigrations(dataSource: DataSource, schema: string): Promise<string[]> {
  return runMigrationsExclusively(
    dataSource,
    createJobQueueMigrations(schema).map((Migration) => new Migration()),
  );
}
