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

async function bootstrap(): Promise<void> {
  const { url, embedded } = await resolveDatabase();
  const problem = await databaseProblem(url);
  if (problem) {
    logger.error(problem);
    await embedded?.stop().catch(() => undefined);
    process.exit(1);
  }
  const stopEmbedded = async () => {
    if (embedded) await embedded.stop().catch((e) => logger.warn(`Stopping the embedded PostgreSQL: ${String(e)}`));
  };
  let app: NestExpressApplication;
  try {
    const config = readSampleConfig(process.env, url);
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
  } catch (error) {
    logger.error(`Could not start: ${(error as Error).message ?? String(error)}`);
    await stopEmbedded();
    process.exit(1);
  }

  // Our own signal handling (not enableShutdownHooks, which re-raises the signal): drain the queue, close, exit 0.
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.log(`${signal}: shutting down`);
    try {
      await app.close();
      await stopEmbedded();
      process.exit(0);
    } catch (error) {
      logger.error(`Shutdown failed: ${(error as Error).message}`);
      process.exit(1);
    }
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

bootstrap().catch((error) => {
  logger.error(`Could not start: ${(error as Error)?.message ?? String(error)}`);
  process.exit(1);
});
