import { Injectable, Module, type INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { JobHandler, JobProducer, JobQueueModule, type JobContext } from '@app/job-queue';
import { CapturingLogger } from './support/capturing-logger';
import { createTestDatabase, type TestDatabase } from './support/test-database';
import { jobRow } from './support/queue-probes';
import { waitFor } from './support/wait-for';

const started = new Set<string>();

@Injectable()
class Handlers {
  /** Runs until its signal is aborted, then gives up (and so releases its own job at shutdown). */
  @JobHandler('hooks.until-aborted')
  async untilAborted(_: unknown, ctx: JobContext) {
    started.add(ctx.id);
    await new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason as Error)));
  }
}

describe('shutdown: the hooks and the log', () => {
  let db: TestDatabase;
  let logger: CapturingLogger;
  let app: INestApplicationContext | undefined;
  // The test runner's own SIGTERM listeners stand aside while an app runs, so that the process looks like an app's:
  // the queue's listener is then the only one, as in an app that neither enabled shutdown hooks nor handles the
  // signal itself.
  let runnerListeners: NodeJS.SignalsListener[];

  beforeAll(async () => {
    db = await createTestDatabase();
  });

  beforeEach(async () => {
    runnerListeners = process.listeners('SIGTERM');
    process.removeAllListeners('SIGTERM');
    @Module({
      imports: [
        JobQueueModule.forRoot({
          connectionUrl: db.url,
          pollIntervalMs: 50,
          shutdownTimeoutMs: 200,
          depthSampleIntervalMs: 0,
        }),
      ],
      providers: [Handlers],
    })
    class AppModule {}
    logger = new CapturingLogger();
    app = await NestFactory.createApplicationContext(AppModule, { logger, abortOnError: false });
  });

  afterEach(async () => {
    await app?.close();
    app = undefined;
    process.removeAllListeners('SIGTERM');
    for (const listener of runnerListeners) process.on('SIGTERM', listener);
  });

  afterAll(async () => {
    await db?.drop();
  });

  it('counts the jobs that shutdown released, also those whose aborted handler released them', async () => {
    const { id } = await app!.get(JobProducer).enqueue('hooks.until-aborted', {});
    await waitFor('the job to start', () => started.has(id));
    await app!.close();
    app = undefined;
    expect(await jobRow(db.url, id)).toMatchObject({ status: 'pending', lock_token: null });
    expect(logger.warnings).toContainEqual(
      expect.stringMatching(/1 jobs still running after 200 ms; aborted them and released 1 to pending/),
    );
  });

  describe('a signal that reaches the process', () => {
    let kill: jest.SpyInstance;

    beforeEach(() => {
      kill = jest.spyOn(process, 'kill').mockImplementation(() => true);
    });

    afterEach(() => kill.mockRestore());

    it('with no shutdown hooks: warns that running jobs will not be drained, and lets the signal end the process', async () => {
      process.emit('SIGTERM', 'SIGTERM');
      expect(logger.warnings).toContainEqual(expect.stringMatching(/SIGTERM.*enableShutdownHooks\(\)/));
      // The default action of the signal, which the queue's listener would otherwise have suppressed.
      expect(kill).toHaveBeenCalledWith(process.pid, 'SIGTERM');
      expect(process.listenerCount('SIGTERM')).toBe(0);
    });

    it('with enableShutdownHooks(): says nothing and lets Nest close the app', async () => {
      app!.enableShutdownHooks(['SIGTERM']);
      process.emit('SIGTERM', 'SIGTERM');
      await waitFor('Nest to close the app and re-raise the signal', () => kill.mock.calls.length > 0);
      app = undefined;
      expect(logger.warnings.filter((w) => w.includes('enableShutdownHooks'))).toEqual([]);
    });
  });
});
