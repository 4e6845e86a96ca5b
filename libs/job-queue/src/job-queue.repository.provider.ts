import type { Provider } from '@nestjs/common';
import { Logger } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { JobRepository } from './job.repository';
import { JobQueueDatabase } from './job-queue.database';
import { JOB_QUEUE_OPTIONS } from './job-queue.constants';
import { messages } from './job-queue.messages';
import type { ResolvedJobQueueOptions } from './interfaces/job-queue-options.interface';
import { JOB_QUEUE_SCHEMA_VERSION } from './migrations';
import { runJobQueueMigrations } from './migrations/job-queue.migrator';
import { checkSchemaVersion, type MigrationSetup } from './migrations/schema-check';

/**
 * The repository is created once the database answers and the schema is at the version this code needs (migrated
 * when the app opted in), so no provider can enqueue into tables that do not exist yet: start-up fails first, with
 * a clear message.
 */
export const jobRepositoryProvider: Provider = {
  provide: JobRepository,
  inject: [JobQueueDatabase, JOB_QUEUE_OPTIONS],
  useFactory: async (database: JobQueueDatabase, options: ResolvedJobQueueOptions) => {
    const dataSource = await database.open();
    const logger = new Logger('JobQueue');
    return database.startupStep(async () => {
      const repository = new JobRepository(dataSource, options.schema, {
        keepFinished: options.retention.completedMs > 0,
        maxResultBytes: options.retention.maxResultBytes,
      });
      if (options.runMigrations) {
        const ran = await runJobQueueMigrations(dataSource, options.schema);
        if (ran.length > 0) logger.log(`Ran migrations: ${ran.join(', ')}`);
      }
      const report = checkSchemaVersion(await repository.schemaState(), migrationSetup(options, dataSource));
      if (report.ahead.length > 0)
        logger.log(messages.schemaAhead(options.schema, report.version, JOB_QUEUE_SCHEMA_VERSION));
      return repository;
    });
  },
};

/** What the app's own DataSource would do about migrations (nothing is known of a DataSource the queue opened). */
function migrationSetup(options: ResolvedJobQueueOptions, dataSource: DataSource): MigrationSetup {
  if (!options.dataSource) return { schema: options.schema };
  return {
    schema: options.schema,
    listed: dataSource.migrations.map((m) => m.name ?? m.constructor.name),
    migrationsRun: dataSource.options.migrationsRun === true,
  };
}
