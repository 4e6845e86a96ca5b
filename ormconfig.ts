import { DataSource } from 'typeorm';
import { sampleDataSourceOptions } from './apps/sample/src/database/sample-data-source.options';

/**
 * The DataSource of the TypeORM CLI (`npm run migration:run`): the queue's migrations and the sample's own, on
 * DATABASE_URL. An app of your own lists `...JobQueueMigrations` in its DataSource the same way.
 */
const url = process.env.DATABASE_URL;
if (!url) throw new Error('Set DATABASE_URL to run migrations, e.g. postgres://postgres@127.0.0.1:5432/postgres');

export default new DataSource(sampleDataSourceOptions(url));
