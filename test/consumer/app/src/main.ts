// main.ts
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { JobValidationFilter } from 'nestjs-pg-job-queue';
import { AppModule } from './app.module.js';

async function bootstrap(): Promise<void> {
  const app = await NestFactory.create(AppModule);
  // SIGTERM/SIGINT then drain running jobs and release the rest to other instances. Without it the process dies
  // with its jobs, which wait for their lease to expire and are charged an attempt (the module warns when it sees it).
  app.enableShutdownHooks();
  // A JobValidationError (bad input to enqueue) becomes a 400 naming the field, instead of a 500.
  app.useGlobalFilters(new JobValidationFilter());
  await app.listen(Number(process.env.PORT ?? 3000), '127.0.0.1');
  console.log(`listening on ${await app.getUrl()}`);
}
void bootstrap();
