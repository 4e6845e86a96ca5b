/**
 * A small app with the queue, run by tests as a process of its own (see `queue-child.process.ts`; swc compiles it as it loads). On SIGTERM it
 * closes the app and prints what still holds the event loop, and then it does NOT call process.exit: the process
 * ends only if nothing the queue left behind (a timer, a socket) keeps it alive.
 * Options come as JSON in QUEUE_CHILD_OPTIONS; it serves `child.noop`.
 */
import 'reflect-metadata';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { JobHandler, JobQueueModule, type JobQueueModuleOptions } from '../../libs/job-queue/src';

@Injectable()
class ChildHandlers {
  @JobHandler('child.noop')
  async run() {}
}

async function main(): Promise<void> {
  const options = JSON.parse(process.env.QUEUE_CHILD_OPTIONS ?? '{}') as JobQueueModuleOptions;
  @Module({ imports: [JobQueueModule.forRoot(options)], providers: [ChildHandlers] })
  class ChildModule {}
  const app = await NestFactory.createApplicationContext(ChildModule, {
    logger: ['error', 'warn'],
    abortOnError: false,
  });
  process.once('SIGTERM', () => {
    console.log('closing');
    app.close().then(
      () => console.log(`closed ${JSON.stringify(process.getActiveResourcesInfo())}`),
      (error: Error) => console.log(`close failed: ${error.message}`),
    );
  });
  console.log('started');
}

main().catch((error: Error) => {
  console.log(`start failed: ${error.message}`);
  process.exitCode = 1;
});
