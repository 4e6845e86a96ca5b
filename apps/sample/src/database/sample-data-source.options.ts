import type { DataSourceOptions } from 'typeorm';
import { JobQueueMigrations } from '@app/job-queue';
import { CreateSampleEffects1764288000001 } from './sample-effects.migration';
import { AddSampleEffectsSlot1764460800001 } from './sample-effects-slot.migration';

/** The sample's TypeORM DataSource: the queue's migrations next to the app's own, as a user would list them. */
export function sampleDataSourceOptions(url: string): DataSourceOptions {
  return {
    type: 'postgres',
    url,
    migrations: [...JobQueueMigrations, CreateSampleEffects1764288000001, AddSampleEffectsSlot1764460800001],
    // One transaction for all pending migrations; each takes an advisory lock, so instances starting together wait.
    migrationsTransactionMode: 'all',
    extra: { max: 30 },
  };
}
