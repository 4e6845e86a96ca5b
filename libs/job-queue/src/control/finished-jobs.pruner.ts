import { Inject, Injectable } from '@nestjs/common';
import { JobRepository } from '../job.repository';
import { JOB_QUEUE_OPTIONS } from '../job-queue.constants';
import type { ResolvedJobQueueOptions } from '../interfaces/job-queue-options.interface';
import { RecurringTask } from '../maintenance/recurring-task';
import type { PruneResult } from './job-control.interface';

/** Batches one run deletes at most per table: a backlog of expired rows is worked off over several runs. */
const MAX_BATCHES_PER_RUN = 20;

/**
 * Deletes finished jobs (completed, cancelled) and dead jobs past their retention, in small batches of
 * `retention.pruneBatchSize`, oldest first, every `retention.pruneIntervalMs`. Safe on every instance at once:
 * each batch skips the rows another instance is deleting. Off when neither retention is set.
 */
@Injectable()
export class FinishedJobsPruner {
  private readonly task: RecurringTask;

  constructor(
    @Inject(JOB_QUEUE_OPTIONS) private readonly options: ResolvedJobQueueOptions,
    private readonly repository: JobRepository,
  ) {
    this.task = new RecurringTask(`job-queue:${options.schema}:prune`, options.retention.pruneIntervalMs, () =>
      this.pruneExpired(),
    );
  }

  get enabled(): boolean {
    const { completedMs, deadMs } = this.options.retention;
    return completedMs > 0 || deadMs > 0;
  }

  start(): void {
    if (this.enabled) this.task.start();
  }

  stop(): Promise<void> {
    return this.task.stop();
  }

  /** One run: up to `MAX_BATCHES_PER_RUN` batches per table, fewer when a batch comes back short. */
  async pruneExpired(): Promise<PruneResult> {
    const { completedMs, deadMs, pruneBatchSize } = this.options.retention;
    const result: PruneResult = { finished: 0, dead: 0 };
    if (completedMs > 0) {
      result.finished = await this.inBatches(() => this.repository.pruneFinished(completedMs, pruneBatchSize));
    }
    if (deadMs > 0) result.dead = await this.inBatches(() => this.repository.pruneDead(deadMs, pruneBatchSize));
    return result;
  }

  private async inBatches(batch: () => Promise<number>): Promise<number> {
    let total = 0;
    for (let i = 0; i < MAX_BATCHES_PER_RUN; i++) {
      const deleted = await batch();
      total += deleted;
      if (deleted < this.options.retention.pruneBatchSize) break;
    }
    return total;
  }
}
