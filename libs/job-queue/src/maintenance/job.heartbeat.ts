import { Inject, Injectable } from '@nestjs/common';
import { JobRepository } from '../job.repository';
import { JOB_QUEUE_OPTIONS } from '../job-queue.constants';
import type { ResolvedJobQueueOptions } from '../interfaces/job-queue-options.interface';
import { JobExecutor } from '../worker/job.executor';
import { RecurringTask } from './recurring-task';
import { WorkerRegistry } from './worker.registry';

/**
 * Renews the leases of every in-flight job of this instance in one statement, every `leaseMs / 3`: a job may run
 * far longer than its lease while its instance lives. A lease found taken over aborts its handler's signal. The
 * same beat renews this worker's row in the live-worker registry (first at start).
 */
@Injectable()
export class JobHeartbeat {
  private readonly task: RecurringTask;

  constructor(
    @Inject(JOB_QUEUE_OPTIONS) options: ResolvedJobQueueOptions,
    private readonly repository: JobRepository,
    private readonly executor: JobExecutor,
    private readonly workers: WorkerRegistry,
  ) {
    this.task = new RecurringTask(`job-queue:${options.schema}:heartbeat`, Math.floor(options.leaseMs / 3), () =>
      this.beat(),
    );
  }

  start(): void {
    this.task.start();
    void this.task.runOnce();
  }

  stop(): Promise<void> {
    return this.task.stop();
  }

  runOnce(): Promise<void> {
    return this.task.runOnce();
  }

  private async beat(): Promise<void> {
    await this.renew(); // leases first: they matter most
    await this.workers.touch();
  }

  private async renew(): Promise<void> {
    const leases = this.executor.renewableLeases();
    if (leases.length === 0) return;
    const renewed = await this.repository.renewLeases(leases);
    const skipped = leases.filter((l) => !renewed.has(l.id));
    if (skipped.length === 0) return;
    // Skipped rows were busy (being completed, or locked by the rescuer) or are no longer ours: read which.
    const held = await this.repository.findHeldLeases(skipped);
    // Reported as (id, token): by the time the answer is back, the same job may run here again under a new lease.
    this.executor.leasesLost(skipped.filter((l) => !held.has(l.id)));
  }
}
