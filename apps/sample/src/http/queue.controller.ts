import { Controller, Get } from '@nestjs/common';
import { JobQueueAdmin, type QueueStats } from '@app/job-queue';

@Controller('queue')
export class QueueController {
  constructor(private readonly admin: JobQueueAdmin) {}

  @Get('stats')
  stats(): Promise<QueueStats> {
    return this.admin.stats();
  }
}
