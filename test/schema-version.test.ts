import { Injectable, Module, type INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import {
  JobHandler,
  JobProducer,
  JobQueueMigrations,
  JobQueueModule,
  JobQueueSchemaMissingError,
  JobQueueSchemaTooNewError,
} from '@app/job-queue';
import { JOB_QUEUE_MIGRATION_CHAIN, JOB_QUEUE_SCHEMA_VERSION, migrationName } from '@app/job-queue/internal';
import { createTestDatabase, type TestDatabase } from './support/test-database';
import { startTestApp } from './support/test-app';
import { query } from './support/sql';
import { waitFor } from './support/wait-for';
import { countJobs, openDataSource } from './support/queue-probes';

const names = JOB_QUEUE_MIGRATION_CHAIN.map((step) => migrationName(step, 'job_queue'));

async function startFailure(start: () => Promise<INestApplicationContext>): Promise<Error> {
  const app = await start().then(
    (a) => a,
    (e: Error) => e,
  );
  if (!(app instanceof Error)) {
    await app.close();
    throw new Error('the app started, but it should have failed');
  }
  return app;
}

/** A database as a release before the numbered chain left it: version 1's tables and record, no schema_versions. */
async function legacyDatabase(): Promise<TestDatabase> {
  const db = await createTestDatabase({ migrate: false });
  const ds = new DataSource({ type: 'postgres', url: db.url, migrations: [JobQueueMigrations[0]] });
  await ds.initialize();
  try {
    await ds.runMigrations();
  } finally {
    await ds.destroy();
  }
  await query(db.url, 'DROP TABLE job_queue.schema_versions');
  return db;
}

let ran = 0;

@Injectable()
class CountingHandlers {
  @JobHandler('schema.count')
  async count() {
    ran += 1;
  }
}

/** A user's app: TypeORM's module owns the DataSource with the queue's migrations listed, the queue joins it. */
function userApp(url: string, typeorm: { migrationsRun?: boolean }) {
  @Module({
    imports: [
      TypeOrmModule.forRoot({ type: 'postgres', url, migrations: JobQueueMigrations, extra: { max: 20 }, ...typeorm }),
      JobQueueModule.forRootAsync({
        inject: [DataSource],
        useFactory: (dataSource: DataSource) => ({ dataSource, pollIntervalMs: 100, concurrency: 2 }),
      }),
    ],
    providers: [CountingHandlers],
  })
  class UserAppModule {}
  return NestFactory.createApplicationContext(UserAppModule, { logger: false, abortOnError: false });
}

describe('the schema version at start', () => {
  const databases: TestDatabase[] = [];
  afterAll(() => Promise.all(databases.map((d) => d.drop())));

  async function track(db: Promise<TestDatabase>): Promise<TestDatabase> {
    databases.push(await db);
    return databases[databases.length - 1];
  }

  it('on a database of the release before the chain, names the missing steps; runMigrations runs only those', async () => {
    const db = await track(legacyDatabase());
    const error = await startFailure(() => startTestApp({ connectionUrl: db.url, concurrency: 0 }));
    expect(error).toBeInstanceOf(JobQueueSchemaMissingError);
    expect((error as JobQueueSchemaMissingError).missing).toEqual(names.slice(1));
    expect(error.message).toContain('set runMigrations: true');

    const app = await startTestApp({ connectionUrl: db.url, concurrency: 0, runMigrations: true });
    await app.close();
    const recorded = await query<{ name: string }>(db.url, 'SELECT name FROM migrations ORDER BY id');
    expect(recorded.map((r) => r.name)).toEqual(names);
    const versions = await query<{ version: number }>(
      db.url,
      'SELECT version FROM job_queue.schema_versions ORDER BY 1',
    );
    expect(versions.map((v) => v.version)).toEqual(JOB_QUEUE_MIGRATION_CHAIN.slice(1).map((s) => s.version));
  });

  it('an app whose TypeORM DataSource lists the migrations but does not run them is told to set migrationsRun', async () => {
    const db = await track(createTestDatabase({ migrate: false }));
    const error = await startFailure(() => userApp(db.url, {}));
    expect(error).toBeInstanceOf(JobQueueSchemaMissingError);
    expect(error.message).toContain('listing does not run them: set migrationsRun: true');
  });

  it('an app whose TypeORM DataSource lists them with migrationsRun: true migrates at start and runs jobs', async () => {
    const db = await track(createTestDatabase({ migrate: false }));
    const app = await userApp(db.url, { migrationsRun: true });
    try {
      await app.get(JobProducer).enqueue('schema.count', {});
      await waitFor('job ran', async () => ran === 1 && (await countJobs(db.url)) === 0);
      const recorded = await query<{ name: string }>(db.url, 'SELECT name FROM migrations ORDER BY id');
      expect(recorded.map((r) => r.name)).toEqual(names);
    } finally {
      await app.close();
    }
  });

  it('refuses a database ahead of this code by a step that is not additive; accepts it once the step is additive', async () => {
    const db = await track(createTestDatabase());
    const future = JOB_QUEUE_SCHEMA_VERSION + 1;
    await query(
      db.url,
      `INSERT INTO job_queue.schema_versions (version, name, additive) VALUES ($1, 'JobQueueFuture', false)`,
      [future],
    );
    const error = await startFailure(() => startTestApp({ connectionUrl: db.url, concurrency: 0 }));
    expect(error).toBeInstanceOf(JobQueueSchemaTooNewError);
    expect((error as JobQueueSchemaTooNewError).breaking).toEqual(['JobQueueFuture']);

    await query(db.url, `UPDATE job_queue.schema_versions SET additive = true WHERE version = $1`, [future]);
    const dataSource = await openDataSource(db.url, 4);
    const app = await startTestApp({ dataSource, concurrency: 0 });
    try {
      const { id } = await app.get(JobProducer).enqueue('schema.ahead', {});
      expect(await countJobs(db.url, 'id = $1', [id])).toBe(1);
    } finally {
      await app.close();
      await dataSource.destroy();
    }
  });
});
