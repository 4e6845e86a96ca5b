import {
  BadRequestException,
  Body,
  ConflictException,
  Controller,
  Get,
  HttpCode,
  NotFoundException,
  Param,
  Post,
  ServiceUnavailableException,
} from '@nestjs/common';
import { JobCancelTimeoutError, JobProducer, JobQueueAdmin, type JobToEnqueue } from '@app/job-queue';

type JobRequest = Partial<JobToEnqueue> & Record<string, unknown>;

/** Enqueue and look up jobs. Validation is the library's: it names the field and writes nothing. */
@Controller('jobs')
export class JobsController {
  constructor(
    private readonly producer: JobProducer,
    private readonly admin: JobQueueAdmin,
  ) {}

  @Post()
  async enqueue(@Body() body: JobRequest): Promise<{ id: string }> {
    if (!body || typeof body !== 'object' || Array.isArray(body))
      throw new BadRequestException('body must be a JSON object');
    const { type, payload, ...options } = body;
    return this.producer.enqueue(type as string, payload === undefined ? {} : payload, options);
  }

  @Post('batch')
  async enqueueMany(@Body() body: { jobs?: JobRequest[] }): Promise<{ ids: string[] }> {
    if (!body || !Array.isArray(body.jobs)) throw new BadRequestException('body must be { "jobs": [ ... ] }');
    return this.producer.enqueueMany(
      body.jobs.map(
        (job) =>
          (job && typeof job === 'object' && job.payload === undefined ? { ...job, payload: {} } : job) as JobToEnqueue,
      ),
    );
  }

  @Get(':id')
  async get(@Param('id') id: string): Promise<Record<string, unknown>> {
    const job = await this.admin.getJob(id);
    if (!job) throw new NotFoundException(`No job ${id}`);
    return job;
  }

  /** 200 `{id, status: "cancelled"}`; 404 when no job has that id; 409 when it had already finished. */
  @Post(':id/cancel')
  @HttpCode(200)
  async cancel(@Param('id') id: string): Promise<{ id: string; status: 'cancelled' }> {
    const result = await this.admin.cancel(id).catch((error: unknown) => {
      if (error instanceof JobCancelTimeoutError) throw new ServiceUnavailableException(error.message);
      throw error;
    });
    if (result.status === 'not-found') throw new NotFoundException(`No job ${id}`);
    if (result.status === 'already-finished')
      throw new ConflictException(`Job ${id} already finished: ${result.state}`);
    return { id, status: 'cancelled' };
  }
}
