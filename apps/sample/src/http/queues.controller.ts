import { Controller, Get, HttpCode, Param, Post } from '@nestjs/common';
import { JobQueueAdmin } from '@app/job-queue';

interface QueueRow {
  queue: string;
  paused: boolean;
  pending: number;
  processing: number;
  dead: number;
}

/** Queues with their counts, and pause/resume. A bad queue name is the library's 400 (JobValidationFilter). */
@Controller('queues')
export class QueuesController {
  constructor(private readonly admin: JobQueueAdmin) {}

  @Get()
  async list(): Promise<QueueRow[]> {
    const queues = await this.admin.queues();
    return queues.map(({ queue, paused, pending, processing, dead }) => ({ queue, paused, pending, processing, dead }));
  }

  @Post(':queue/pause')
  @HttpCode(200)
  pause(@Param('queue') queue: string): Promise<{ queue: string; paused: boolean }> {
    return this.admin.pauseQueue(queue);
  }

  @Post(':queue/resume')
  @HttpCode(200)
  resume(@Param('queue') queue: string): Promise<{ queue: string; paused: boolean }> {
    return this.admin.resumeQueue(queue);
  }
}
