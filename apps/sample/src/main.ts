import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { JobValidationFilter } from '@app/job-queue';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { join } from 'node:path';
import { embeddedPort, readSampleConfig } from './config/sample.config';
import { databaseProblem } from './database/database-preflight';
import { startEmbeddedPostgres, type EmbeddedDatabase } from './database/embedded-postgres';
import { DatabaseUnavailableFilter } from './http/database-unavailable.filter';
import { SampleAppModule } from './sample-app.module';

const logger = new Logger('Sample');

/** With no DATABASE_URL, a PostgreSQL of the app's own under .data/ (for trying the app; production sets the URL). */
async function resolveDatabase(): Promise<{ url: string; embedded?: EmbeddedDatabase }> {
  if (process.env.DATABASE_URL) return { url: process.env.DATABASE_URL };
  const port = embeddedPort(process.env);
  const embedded = await startEmbeddedPostgres({
    dataDir: join(process.cwd(), '.data'),
    port,
    log: (line) => logger.warn(line),
  });
  logger.log(`DATABASE_URL is not set: started an embedded PostgreSQL with its data in ${embedded.dataDir}`);
  logger.log(`Connect with: psql ${embedded.url}   (production: set DATABASE_URL to a real server)`);
  return { url: embedded.url, embedded };
}

/** Stops the app on these signals; SIGHUP is the terminal closing (the embedded server is not in its session). */
const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

async function bootstrap(): Promise<void> {
  let app: NestExpressApplication | undefined;
  let embedded: EmbeddedDatabase | undefined;
  const stopEmbedded = async () => {
    if (embedded) await embedded.stop().catch((e) => logger.warn(`Stopping the embedded PostgreSQL: ${String(e)}`));
  };

  // Our own signal handling (not enableShutdownHooks, which re-raises the signal): drain the queue, close, stop the
  // embedded database, exit 0. Installed before anything starts, so that a signal during start-up waits for it to
  // finish and then stops what it started, instead of leaving the embedded server running.
  let stopping = false;
  let started: Promise<void> = Promise.resolve();
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.log(`${signal}: shutting down`);
    try {
      await started.catch(() => undefined);
      await app?.close();
      await stopEmbedded();
      process.exit(0);
    } catch (error) {
      logger.error(`Shutdown failed: ${(error as Error).message}`);
      await stopEmbedded();
      process.exit(1);
    }
  };
  for (const signal of STOP_SIGNALS) process.on(signal, () => void shutdown(signal));

  started = (async () => {
    const database = await resolveDatabase();
    embedded = database.embedded;
    const problem = await databaseProblem(database.url);
    if (problem) throw new Error(problem);
    const config = readSampleConfig(process.env, database.url);
    app = await NestFactory.create<NestExpressApplication>(SampleAppModule.forRoot(config), {
      bodyParser: false,
      abortOnError: false,
    });
    // Larger than the queue's payload limit, so that an oversized payload gets the library's clear answer.
    app.useBodyParser('json', { limit: '16mb' });
    // Nest tries global filters last-registered first: validation errors (400), then database outages (503).
    app.useGlobalFilters(new DatabaseUnavailableFilter(app.getHttpAdapter()), new JobValidationFilter());
    await app.listen(config.port);
    logger.log(`Listening on http://localhost:${config.port} as instance ${config.instanceId}`);
  })();
  try {
    await started;
  } catch (error) {
    logger.error(`Could not start: ${(error as Error)?.message ?? String(error)}`);
    if (stopping) return; // a signal came during the start: its shutdown stops what started, and exits
    stopping = true;
    await app?.close().catch(() => undefined);
    await stopEmbedded();
    process.exit(1);
  }
}

bootstrap().catch((error) => {
  logger.error(`Could not start: ${(error as Error)?.message ?? String(error)}`);
  process.exit(1);
});
