import { Logger, type INestApplicationContext, type LoggerService, type Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Module } from '@nestjs/common';
import { JobQueueModule, type JobQueueModuleOptions } from '@app/job-queue';

/** A small app with the queue module and the given handler providers, as a user would build it. */
export async function startTestApp(
  options: JobQueueModuleOptions,
  providers: Type[] = [],
  logger?: LoggerService,
): Promise<INestApplicationContext> {
  @Module({ imports: [JobQueueModule.forRoot(options)], providers })
  class TestAppModule {}

  return NestFactory.createApplicationContext(TestAppModule, {
    logger: logger ?? (process.env.TEST_LOGS ? new Logger() : false),
    abortOnError: false,
  });
}
