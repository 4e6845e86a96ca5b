import { JobQueueSchemaMissingError, JobQueueSchemaTooNewError } from '../errors/job-queue.errors';
import { messages } from '../job-queue.messages';
import type { AppliedVersion, SchemaState } from '../job.repository';
import { JOB_QUEUE_MIGRATION_CHAIN, JOB_QUEUE_SCHEMA_VERSION } from './index';
import { migrationName } from './job-queue-migration';

/** How the app is set up to migrate, so that the error can say which way applies to it. */
export interface MigrationSetup {
  schema: string;
  /** The migration names the app's own DataSource lists; undefined when the queue opened its own DataSource. */
  listed?: string[];
  /** The app's DataSource runs its migrations when it initialises (`migrationsRun: true`). */
  migrationsRun?: boolean;
}

export interface SchemaVersionReport {
  /** The highest version recorded (1 for a database migrated before the chain recorded versions). */
  version: number;
  /** Steps newer than this code, all additive (a breaking one fails the check). */
  ahead: AppliedVersion[];
}

/**
 * The start-up check of the schema against this code's chain. Every step of the chain must be applied (else
 * `JobQueueSchemaMissingError` naming the missing ones and the way to run them that fits the app). A database ahead
 * of this code is accepted when every newer step is additive (else `JobQueueSchemaTooNewError`): that is the rule
 * that lets release N-1 run beside release N during a rolling deploy.
 */
export function checkSchemaVersion(state: SchemaState, setup: MigrationSetup): SchemaVersionReport {
  const recorded = new Set(state.versions.map((v) => v.version));
  // A database migrated before the chain recorded versions holds the tables of version 1 and no record.
  if (state.tablesPresent) recorded.add(1);
  const missing = JOB_QUEUE_MIGRATION_CHAIN.filter((step) => !recorded.has(step.version)).map((step) =>
    migrationName(step, setup.schema),
  );
  if (missing.length > 0) {
    throw new JobQueueSchemaMissingError(
      missing,
      messages.migrationsMissing(setup.schema, missing, howToMigrate(missing, setup)),
    );
  }
  const ahead = state.versions.filter((v) => v.version > JOB_QUEUE_SCHEMA_VERSION);
  const breaking = ahead.filter((v) => !v.additive);
  if (breaking.length > 0) {
    throw new JobQueueSchemaTooNewError(
      breaking.map((v) => v.name),
      messages.schemaTooNew(
        setup.schema,
        JOB_QUEUE_SCHEMA_VERSION,
        breaking.map((v) => `${v.version} (${v.name})`),
      ),
    );
  }
  return { version: Math.max(...recorded), ahead };
}

function howToMigrate(missing: string[], setup: MigrationSetup): string {
  if (setup.listed === undefined) return messages.migrateOwnDataSource(setup.schema);
  const listed = new Set(setup.listed);
  if (missing.every((name) => listed.has(name))) {
    return setup.migrationsRun ? messages.migrateListedAndRun() : messages.migrateListedNotRun();
  }
  return messages.migrateNotListed(setup.schema);
}
