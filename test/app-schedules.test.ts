import { Injectable, Module, type INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Interval, ScheduleModule } from '@nestjs/schedule';
import { JobHandler, JobProducer, JobQueueModule } from '@app/job-queue';
import { createTestDatabase, type TestDatabase } from './support/test-database';
import { waitFor } from './support/wait-for';

const TICK_MS = 200;

/** The app's own schedule: one tick every TICK_MS, each tick's time recorded. */
@Injectable()
class AppSchedules {
  static ticks: number[] = [];

  @Interval('app-tick', TICK_MS)
  tick() {
    AppSchedules.ticks.push(performance.now());
  }
}

@Injectable()
class Handlers {
  static ran = 0;

  @JobHandler('schedules.noop')
  async run() {
    Handlers.ran += 1;
  }
}

describe("the app's own @nestjs/schedule jobs", () => {
  let db: TestDatabase;
  let app: INestApplicationContext | undefined;

  beforeAll(async () => {
    db = await createTestDatabase();
  });

  beforeEach(() => {
    AppSchedules.ticks = [];
    Handlers.ran = 0;
  });

  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  afterAll(async () => {
    await db?.drop();
  });

  async function start(imports: unknown[]): Promise<INestApplicationContext> {
    @Module({
      imports: [
        ...(imports as []),
        JobQueueModule.forRoot({ connectionUrl: db.url, pollIntervalMs: 50, pollOnly: true, depthSampleIntervalMs: 0 }),
      ],
      providers: [AppSchedules, Handlers],
    })
    class AppModule {}
    app = await NestFactory.createApplicationContext(AppModule, { logger: false, abortOnError: false });
    return app;
  }

  it('fire once per interval when the app imports ScheduleModule.forRoot() itself', async () => {
    await start([ScheduleModule.forRoot()]);
    await waitFor('six ticks of the app interval', () => AppSchedules.ticks.length >= 6, 30_000);
    // One registration ticks at most once per interval; a second registration of the same @Interval, set up in the
    // same bootstrap, ticks a few milliseconds after the first every time.
    const gaps = AppSchedules.ticks.slice(1).map((t, i) => t - AppSchedules.ticks[i]);
    expect(Math.min(...gaps)).toBeGreaterThan(TICK_MS / 2);
  });

  it('are not scheduled by the library when the app does not import ScheduleModule', async () => {
    const started = await start([]);
    // A job due in 4 ticks, found only by the library's own poll timer: by the time it ran, an @Interval scheduled
    // by anyone would have fired.
    await started.get(JobProducer).enqueue('schedules.noop', {}, { delayMs: 4 * TICK_MS });
    await waitFor('the delayed job to run', () => Handlers.ran === 1, 30_000);
    expect(AppSchedules.ticks).toEqual([]);
  });
});
