import type { DataSource } from 'typeorm';
import { createJobQueueMigrations } from './index';
import { MIGRATION_LOCK_SQL } from './migration-lock';

/**
 * Runs the library's own migrations at start (`runMigrations: true`), whatever else the app's DataSource lists.
 * One transaction under the schema's advisory lock: a second instance starting at the same moment waits, then
 * finds the work recorded. Records go to TypeORM's migrations table, in TypeORM's format, so the CLI agrees.
 */
export async function runJobQueueMigrations(dataSource: DataSource, schema: string): Promise<string[]> {
  const table = dataSource.options.migrationsTableName ?? 'migrations';
  const runner = dataSource.createQueryRunner();
  const ran: string[] = [];
  try {
    await runner.startTransaction();
    await runner.query(MIGRATION_LOCK_SQL, [schema]);
    await runner.query(
      `CREATE TABLE IF NOT EXISTS "${table.replace(/"/g, '""')}" ` +
        `(id SERIAL PRIMARY KEY, "timestamp" bigint NOT NULL, name varchar NOT NULL)`,
    );
    const done = new Set<string>(
      (await runner.query(`SELECT name FROM "${table.replace(/"/g, '""')}"`)).map((r: { name: string }) => r.name),
    );
    for (const Migration of createJobQueueMigrations(schema)) {
      const migration = new Migration();
      const name = migration.name ?? Migration.name;
      if (done.has(name)) continue;
      await migration.up(runner);
      await runner.query(`INSERT INTO "${table.replace(/"/g, '""')}" ("timestamp", name) VALUES ($1, $2)`, [
        Number(name.slice(-13)),
        name,
      ]);
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
