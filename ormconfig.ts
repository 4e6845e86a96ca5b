import { DataSource } from 'typeorm';
import { JobQueueMigrations } from './libs/job-queue/src/migrations';
import { CreateSampleEffects1764288000001 } from './apps/sample/src/database/sample-effects.migration';
import { AddSampleEffectsSlot1764460800001 } from './apps/sample/src/database/sample-effects-slot.migration';

/**
 * The DataSource of the TypeORM CLI (`npm run migration:run`): the queue's migrations next to the sample's own, on
 * DATABASE_URL. An app of your own lists `...JobQueueMigrations` in its DataSource the same way. (Relative imports:
 * the CLI runs under ts-node, which does not resolve the `@app/job-queue` path alias.)
 */
const url = process.env.DATABASE_URL;
if (!url) throw new Error('Set DATABASE_URL to run migrations, e.g. postgres://postgres@127.0.0.1:5432/postgres');

export default new DataSource({
  type: 'postgres',
  url,
  migrations: [...JobQueueMigrations, CreateSampleEffects1764288000001, AddSampleEffectsSlot1764460800001],
  migrationsTransactionMode: 'all',
});
