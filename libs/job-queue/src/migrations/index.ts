import type { MigrationInterface } from 'typeorm';
import { createJobQueueTablesMigration } from './create-job-queue-tables.migration';

/** The library's migrations for a schema, in order; add them to your DataSource's `migrations`. */
export function createJobQueueMigrations(schema = 'job_queue'): Array<new () => MigrationInterface> {
  return [createJobQueueTablesMigration(schema)];
}

/** The library's migrations for the default schema, `job_queue`. */
export const JobQueueMigrations = createJobQueueMigrations();
