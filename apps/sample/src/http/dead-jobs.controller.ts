import { BadRequestException, Controller, Get, NotFoundException, Param, Post, Query } from '@nestjs/common';
import { JobQueueAdmin, type DeadJobSummary } from '@app/job-queue';

@Controller('dead-jobs')
export class DeadJobsController {
  constructor(private readonly admin: JobQueueAdmin) {}

  @Get()
  async list(@Query('limit') limit?: string): Promise<DeadJobSummary[]> {
    const n = limit === undefined ? 100 : Number(limit);
    if (!Number.isInteger(n) || n < 1 || n > 1000)
      throw new BadRequestException('limit must be an integer from 1 to 1000');
    return this.admin.listDeadJobs(n);
  }

  /** Back to `jobs` under the same id with fresh attempts, in one statement. */
  @Post(':id/requeue')
  async requeue(@Param('id') id: string): Promise<{ id: string }> {
    const requeued = await this.admin.requeueDeadJob(id);
    if (!requeued) throw new NotFoundException(`No dead job ${id}`);
    return { id: requeued };
  }
}
