import { BadRequestException, Body, Controller, Get, NotFoundException, Param, Post } from '@nestjs/common';
import { JobProducer, JobQueueAdmin, type JobToEnqueue } from '@app/job-queue';

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
}
