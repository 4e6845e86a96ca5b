import type { DataSource, MigrationInterface } from 'typeorm';
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
    await runner.query(
      `CREATE TABLE IF NOT EXISTS ${table} (id SERIAL PRIMARY KEY, "timestamp" bigint NOT NULL, name varchar NOT NULL)`,
    );
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

/** Runs the library's own migrations for `schema` (what `runMigrations: true` does at start). */
export function runJobQueueMigrations(dataSource: DataSource, schema: string): Promise<string[]> {
  return runMigrationsExclusively(
    dataSource,
    createJobQueueMigrations(schema).map((Migration) => new Migration()),
  );
}
