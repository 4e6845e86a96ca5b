import { Injectable, Logger } from '@nestjs/common';
import { OnJobEvent, type JobEvent } from '@app/job-queue';

/** What an app does with a job event hook: here, one log line per dead-lettered job, after it is committed. */
@Injectable()
export class DeadJobHooks {
  private readonly logger = new Logger('DeadJobs');

  @OnJobEvent('*', 'dead')
  onDead(event: JobEvent): void {
    this.logger.warn(`Job ${event.id} (${event.type}) dead after attempt ${event.attempt}: ${event.error}`);
  }
}
