import { Injectable, Module, type INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import {
  DuplicateJobHandlerError,
  JobHandler,
  JobProducer,
  JobQueueConfigError,
  JobQueueModule,
  JobQueueSchemaMissingError,
  type JobContext,
  type JobQueueModuleOptions,
} from '@app/job-queue';
import { JOB_QUEUE_OPTIONS, type ResolvedJobQueueOptions } from '@app/job-queue/internal';
import { createTestDatabase, type TestDatabase } from './support/test-database';
import { startTestApp } from './support/test-app';
import { query } from './support/sql';
import { waitFor } from './support/wait-for';
import { countJobs, openDataSource } from './support/queue-probes';

/** A ConfigService-like provider, from a module of its own, as an app would have. */
@Injectable()
class QueueConfigService {
  static url = '';
  get(): JobQueueModuleOptions {
    return { connectionUrl: QueueConfigService.url, concurrency: 3, pollIntervalMs: 50, instanceId: 'from-config' };
  }
}

@Module({ providers: [QueueConfigService], exports: [QueueConfigService] })
class QueueConfigModule {}

const ran: Array<{ id: string; lockedBy: string }> = [];

@Injectable()
class AsyncHandlers {
  @JobHandler('opt.async')
  async run(_: unknown, ctx: JobContext) {
    const [row] = await query<{ locked_by: string }>(
      QueueConfigService.url,
      'SELECT locked_by FROM job_queue.jobs WHERE id = $1',
      [ctx.id],
    );
    ran.push({ id: ctx.id, lockedBy: row.locked_by });
  }
}

@Injectable()
class FirstHandlers {
  @JobHandler('opt.duplicate')
  async handle() {}
}

@Injectable()
class BadBackoffHandlers {
  @JobHandler('opt.bad-backoff', { backoff: { type: 'exponential', maxDelayMs: -5 } })
  async handle() {}
}

@Injectable()
class SecondHandlers {
  @JobHandler('opt.duplicate')
  async handle() {}
}

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

/** Connections the queue holds on the database (its pool is named after the instance). */
const queueConnections = (db: TestDatabase, instanceId: string) =>
  query<{ n: number }>(
    db.url,
    `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND application_name = $2`,
    [db.name, `job-queue:${instanceId}`],
  ).then(([r]) => r.n);

describe('module options', () => {
  let db: TestDatabase;
  let bare: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase();
    bare = await createTestDatabase({ migrate: false });
    QueueConfigService.url = db.url;
  });

  afterAll(async () => {
    await db?.drop();
    await bare?.drop();
  });

  it('forRootAsync takes its options from a factory that injects a provider of an imported module', async () => {
    @Module({
      imports: [
        JobQueueModule.forRootAsync({
          imports: [QueueConfigModule],
          inject: [QueueConfigService],
          useFactory: async (config: QueueConfigService) => config.get(),
        }),
      ],
      providers: [AsyncHandlers],
    })
    class AsyncAppModule {}

    const app = await NestFactory.createApplicationContext(AsyncAppModule, { logger: false, abortOnError: false });
    try {
      const options = app.get<ResolvedJobQueueOptions>(JOB_QUEUE_OPTIONS);
      expect(options).toMatchObject({
        concurrency: 3,
        instanceId: 'from-config',
        leaseMs: 30_000,
        schema: 'job_queue',
      });
      const { id } = await app.get(JobProducer).enqueue('opt.async', {});
      await waitFor('job ran', async () => ran.length === 1 && (await countJobs(db.url)) === 0);
      expect(ran).toEqual([{ id, lockedBy: 'from-config' }]);
    } finally {
      await app.close();
    }
  });

  it.each<[string, JobQueueModuleOptions & Record<string, unknown>, string]>([
    ['an unsafe schema name', { schema: 'bad-name; drop' }, 'schema'],
    ['a negative concurrency', { concurrency: -1 }, 'concurrency'],
    ['an unknown option', { concurency: 4 }, 'concurency'],
    ['a lease under a second', { leaseMs: 10 }, 'leaseMs'],
    ['an unknown backoff', { backoff: { type: 'quadratic' } as never }, 'backoff'],
    ['a non-URL connection string', { connectionUrl: 'mysql://x' }, 'connectionUrl'],
  ])('refuses %s at start, naming the option', async (_, bad, option) => {
    const error = await startFailure(() => startTestApp({ connectionUrl: db.url, ...bad }));
    expect(error).toBeInstanceOf(JobQueueConfigError);
    expect((error as JobQueueConfigError).option).toBe(option);
    expect(error.message).toContain(`"${option}"`);
  });

  it('refuses a bad option from forRootAsync the same way', async () => {
    @Module({
      imports: [JobQueueModule.forRootAsync({ useFactory: () => ({ connectionUrl: db.url, concurrency: -1 }) })],
    })
    class BadAsyncModule {}
    const error = await startFailure(() =>
      NestFactory.createApplicationContext(BadAsyncModule, { logger: false, abortOnError: false }),
    );
    expect(error).toBeInstanceOf(JobQueueConfigError);
    expect(error.message).toContain('"concurrency"');
  });

  it('without the tables and without runMigrations, fails with JobQueueSchemaMissingError and holds no connection', async () => {
    const error = await startFailure(() => startTestApp({ connectionUrl: bare.url, instanceId: 'no-schema' }));
    expect(error).toBeInstanceOf(JobQueueSchemaMissingError);
    expect(error.message).toContain('"job_queue"');
    expect(error.message).toContain('runMigrations');
    await waitFor('pool closed', async () => (await queueConnections(bare, 'no-schema')) === 0, 2_000);

    // With runMigrations the same database starts, and the tables are there.
    const app = await startTestApp({ connectionUrl: bare.url, runMigrations: true, concurrency: 0 });
    try {
      const { id } = await app.get(JobProducer).enqueue('opt.migrated', {});
      expect(await countJobs(bare.url, 'id = $1', [id])).toBe(1);
    } finally {
      await app.close();
    }
  });

  it('a bad handler option fails at start, naming the handler and the option', async () => {
    const dataSource = await openDataSource(db.url, 2);
    try {
      const error = await startFailure(() => startTestApp({ dataSource, concurrency: 0 }, [BadBackoffHandlers]));
      expect(error).toBeInstanceOf(JobQueueConfigError);
      expect(error.message).toBe(
        '@JobHandler on BadBackoffHandlers.handle: backoff.maxDelayMs must be an integer from 0 to 2147483647, got -5',
      );
    } finally {
      await dataSource.destroy();
    }
  });

  it('two @JobHandler for one type fail at start, naming both', async () => {
    // The app owns this DataSource, so the failed start leaves nothing open behind it.
    const dataSource = await openDataSource(db.url, 2);
    try {
      const error = await startFailure(() =>
        startTestApp({ dataSource, concurrency: 0 }, [FirstHandlers, SecondHandlers]),
      );
      expect(error).toBeInstanceOf(DuplicateJobHandlerError);
      expect(error.message).toContain('"opt.duplicate"');
      expect(error.message).toContain('FirstHandlers.handle');
      expect(error.message).toContain('SecondHandlers.handle');
    } finally {
      await dataSource.destroy();
    }
  });
});
