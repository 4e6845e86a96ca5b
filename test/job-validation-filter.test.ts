import { Body, Controller, Module, Post, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import request from 'supertest';
import { JobProducer, JobQueueModule, JobValidationFilter } from '@app/job-queue';
import { createTestDatabase, type TestDatabase } from './support/test-database';
import { query } from './support/sql';

@Controller('jobs')
class JobsController {
  constructor(private readonly jobs: JobProducer) {}

  @Post()
  enqueue(@Body() body: { type: string; payload: unknown; priority?: number }) {
    return this.jobs.enqueue(body.type, body.payload, { priority: body.priority });
  }

  @Post('boom')
  boom() {
    throw new Error('not a validation error');
  }
}

describe('JobValidationFilter', () => {
  let db: TestDatabase;
  let app: INestApplication;

  beforeAll(async () => {
    db = await createTestDatabase();
    @Module({
      imports: [JobQueueModule.forRoot({ connectionUrl: db.url, concurrency: 0, depthSampleIntervalMs: 0 })],
      controllers: [JobsController],
    })
    class AppModule {}
    app = await NestFactory.create(AppModule, { logger: false, abortOnError: false });
    app.useGlobalFilters(new JobValidationFilter());
    await app.init();
  });

  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  it('answers a JobValidationError with 400 naming the field, and writes nothing', async () => {
    const res = await request(app.getHttpServer())
      .post('/jobs')
      .send({ type: 'filter.ok', payload: {}, priority: 1.5 });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({
      statusCode: 400,
      error: 'Bad Request',
      field: 'priority',
      message: expect.stringContaining('priority'),
    });
    expect(await query(db.url, 'SELECT id FROM job_queue.jobs')).toEqual([]);
  });

  it('leaves other errors to Nest (500) and valid requests alone (201)', async () => {
    expect((await request(app.getHttpServer()).post('/jobs/boom').send({})).status).toBe(500);
    const ok = await request(app.getHttpServer()).post('/jobs').send({ type: 'filter.ok', payload: {} });
    expect(ok.status).toBe(201);
    expect(ok.body).toEqual({ id: expect.any(String) });
  });
});
