import type { MigrationInterface, QueryRunner } from 'typeorm';
import { queueTables, type QueueTables } from '../sql/identifier';
import { MIGRATION_LOCK_SQL } from './migration-lock';
import { forgetVersion, recordVersion } from './schema-versions';

/** One step of the schema's chain: what it changes, written for any schema. */
export interface JobQueueMigrationStep {
  /** Position in the chain, from 1; each step runs once, after every lower one. */
  version: number;
  /** PascalCase words naming the change, part of the recorded migration name. */
  title: string;
  /**
   * True when code written for the schema before this step keeps working after it: new tables, new indexes, new
   * columns that are nullable or have a default, looser constraints. Code of an older release starts on a database
   * that is ahead of it only when every step it does not know is additive (docs/operations.md, rolling deploys).
   * False for a step that drops, renames or narrows what older code reads or writes.
   */
  additive: boolean;
  up(queryRunner: QueryRunner, tables: QueueTables): Promise<void>;
  down(queryRunner: QueryRunner, tables: QueueTables): Promise<void>;
}

/**
 * TypeORM reads a migration's timestamp from the last 13 characters of its name and orders a run by it; which
 * migrations ran it decides by name alone. The chain's timestamps are one second apart from a fixed base, so a
 * future step still sorts after every earlier step of ours, whatever the app's own migrations are called.
 */
const BASE_TIMESTAMP = 1764288000000;

/**
 * The name a step is recorded under in a schema. Each schema needs names of its own (TypeORM records by name);
 * the default schema's are the plain ones. Version 1 keeps the name it had before the chain was numbered, so
 * databases migrated then are recognised as being at version 1.
 */
export function migrationName(step: Pick<JobQueueMigrationStep, 'version' | 'title'>, schema: string): string {
  const timestamp = BASE_TIMESTAMP + (step.version - 1) * 1000;
  const base =
    step.version === 1 ? 'CreateJobQueueTables' : `JobQueue${String(step.version).padStart(4, '0')}${step.title}`;
  return schema === 'job_queue' ? `${base}${timestamp}` : `${base}_${schema}_${timestamp}`;
}

/**
 * A step bound to one schema, as the TypeORM migration class the CLI and `runMigrations` both run. Up and down each
 * first take the schema's advisory lock (transaction-scoped), so instances that start at the same moment, through
 * the CLI or at start, cannot race each other. Each also records (or forgets) its version in the schema's
 * `schema_versions`, which the start-up check reads.
 */
export function bindMigrationStep(step: JobQueueMigrationStep, schema: string): new () => MigrationInterface {
  const tables = queueTables(schema);
  const name = migrationName(step, schema);
  return class JobQueueMigration implements MigrationInterface {
    readonly name = name;

    async up(queryRunner: QueryRunner): Promise<void> {
      await queryRunner.query(MIGRATION_LOCK_SQL, [schema]);
      await step.up(queryRunner, tables);
      await recordVersion(queryRunner, tables, step, name);
    }

    async down(queryRunner: QueryRunner): Promise<void> {
      await queryRunner.query(MIGRATION_LOCK_SQL, [schema]);
      await step.down(queryRunner, tables);
      await forgetVersion(queryRunner, tables, step.version);
    }
  };
}
