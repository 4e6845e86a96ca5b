import { Inject, Injectable } from '@nestjs/common';
import { JobRepository } from '../job.repository';
import { JOB_QUEUE_OPTIONS } from '../job-queue.constants';
import type { ResolvedJobQueueOptions } from '../interfaces/job-queue-options.interface';
import { JobQueueMetrics } from '../observability/job-queue.metrics';
import { JobPoller } from '../worker/job.poller';
import { RecurringTask } from './recurring-task';
import { WorkerRegistry } from './worker.registry';

/**
 * Feeds the gauges that need a query or a look at the pool: queue depth by status and the age of the oldest
 * runnable pending job (two statements per interval, never per scrape or per job), waiting pool clients, and the
 * age of the claim loop's last tick; and flags pending jobs that no live worker serves.
 */
@Injectable()
export class QueueDepthSampler {
  private readonly task: RecurringTask | undefined;

  constructor(
    @Inject(JOB_QUEUE_OPTIONS) private readonly options: ResolvedJobQueueOptions,
    private readonly repository: JobRepository,
    private readonly metrics: JobQueueMetrics,
    private readonly poller: JobPoller,
    private readonly workers: WorkerRegistry,
  ) {
    if (options.depthSampleIntervalMs > 0) {
      this.task = new RecurringTask(`job-queue:${options.schema}:depth`, options.depthSampleIntervalMs, () =>
        this.sample(),
      );
    }
  }

  start(): void {
    this.task?.start();
    void this.task?.runOnce();
  }

  stop(): Promise<void> {
    return this.task?.stop() ?? Promise.resolve();
  }

  private async sample(): Promise<void> {
    this.metrics.poolWaiting.set(this.repository.pool.waitingCount);
    if (this.poller.active) this.metrics.lastPollAge.set((Date.now() - this.poller.lastTickAt) / 1000);
    this.metrics.queueDepth(await this.repository.countByStatus(), this.options.queues);
    this.metrics.oldestPending(await this.repository.oldestPendingAgeMs());
    await this.workers.checkUnserved();
  }
}
