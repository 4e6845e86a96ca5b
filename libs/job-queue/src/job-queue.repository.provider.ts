import type { Provider } from '@nestjs/common';
import { Logger } from '@nestjs/common';
import { JobQueueSchemaMissingError } from './errors/job-queue.errors';
import { JobRepository } from './job.repository';
import { JobQueueDatabase } from './job-queue.database';
import { JOB_QUEUE_OPTIONS } from './job-queue.constants';
import { messages } from './job-queue.messages';
import type { ResolvedJobQueueOptions } from './interfaces/job-queue-options.interface';
import { runJobQueueMigrations } from './migrations/job-queue.migrator';

/**
 * The repository is created once the database answers and the schema is in place (migrated when the app opted
 * in), so no provider can enqueue into tables that do not exist yet: start-up fails first, with a clear message.
 */
export const jobRepositoryProvider: Provider = {
  provide: JobRepository,
  inject: [JobQueueDatabase, JOB_QUEUE_OPTIONS],
  useFactory: async (database: JobQueueDatabase, options: ResolvedJobQueueOptions) => {
    const dataSource = await database.open();
    try {
      const repository = new JobRepository(dataSource, options.schema);
      if (options.runMigrations) {
        const ran = await runJobQueueMigrations(dataSource, options.schema);
        if (ran.length > 0) new Logger('JobQueue').log(`Ran migrations: ${ran.join(', ')}`);
      } else if (!(await repository.tablesPresent())) {
        throw new JobQueueSchemaMissingError(messages.migrationsMissing(options.schema));
      }
      return repository;
    } catch (error) {
      // The app will not start, so no shutdown hook will run: close the pool opened above, or it outlives the failure.
      await database.close();
      throw error;
    }
  },
};
