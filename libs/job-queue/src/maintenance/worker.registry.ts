import { Inject, Injectable, Logger } from '@nestjs/common';
import { JobHandlerRegistry } from '../discovery/job-handler.registry';
import { JobRepository, type UnservedJobs } from '../job.repository';
import { JOB_QUEUE_OPTIONS } from '../job-queue.constants';
import { messages } from '../job-queue.messages';
import type { ResolvedJobQueueOptions } from '../interfaces/job-queue-options.interface';
import { JobQueueMetrics } from '../observability/job-queue.metrics';

/**
 * Bounds of the unserved-jobs check, so that its cost and the metric's series stay small whatever the backlog and
 * however many types producers invent: queue/type pairs walked, pairs reported, and the count per pair.
 */
export const UNSERVED_LIMITS = { scannedPairs: 1_000, reportedPairs: 50, countCap: 10_000 } as const;

/**
 * This instance's row in the `workers` table (the queues and types it serves), and the check that flags pending
 * jobs no live worker serves: a type whose handler is missing from every instance, or a queue nobody listens to.
 * The heartbeat renews the row (no task of its own, nothing per job); the depth sampler runs the check.
 */
@Injectable()
export class WorkerRegistry {
  private readonly logger = new Logger('JobQueue');
  private lastTouch: Promise<void> | undefined;
  private left = false;
  /** The pairs already warned about, so that each is logged once until it is served again. */
  private flagged = new Set<string>();

  constructor(
    @Inject(JOB_QUEUE_OPTIONS) private readonly options: ResolvedJobQueueOptions,
    private readonly repository: JobRepository,
    private readonly handlers: JobHandlerRegistry,
    private readonly metrics: JobQueueMetrics,
  ) {}

  /** Registers this worker, or renews its row for another lease; a no-op once it has left. */
  touch(): Promise<void> {
    if (this.left) return Promise.resolve();
    this.lastTouch = this.repository.touchWorker({
      instanceId: this.options.instanceId,
      queues: this.options.queues,
      types: this.handlers.types(),
      concurrency: this.options.concurrency,
      leaseMs: this.options.leaseMs,
    });
    return this.lastTouch;
  }

  /** Removes the row at shutdown, once claiming has stopped. A failure only leaves the row to expire. */
  async leave(): Promise<void> {
    if (this.left) return;
    // From here on touch() writes nothing, so no beat can register the worker again.
    this.left = true;
    if (this.lastTouch === undefined) return;
    await this.lastTouch.catch(() => undefined);
    await this.repository
      .removeWorker(this.options.instanceId)
      .catch((error: Error) => this.logger.warn(messages.workerNotRemoved(error.message)));
  }

  /** Queue/type pairs with pending jobs that no live worker serves (bounded: see UNSERVED_LIMITS). */
  async findUnserved(): Promise<UnservedJobs[]> {
    // This instance's own registration, sent at start, must land before it judges what is served.
    await this.lastTouch?.catch(() => undefined);
    return this.repository.findUnserved(
      UNSERVED_LIMITS.reportedPairs,
      UNSERVED_LIMITS.countCap,
      UNSERVED_LIMITS.scannedPairs,
    );
  }

  /** The sampler's check: sets the gauge, and warns once for each pair that became unserved. */
  async checkUnserved(): Promise<void> {
    const rows = await this.findUnserved();
    this.metrics.unservedJobs(rows);
    const now = new Set<string>();
    for (const row of rows) {
      const key = `${row.queue}\u0000${row.type}`;
      now.add(key);
      if (!this.flagged.has(key)) {
        this.logger.warn(
          messages.unservedJobs(row.queue, row.type, row.pending, row.pending >= UNSERVED_LIMITS.countCap),
        );
      }
    }
    this.flagged = now;
  }
}
