import { Inject, Injectable, Logger } from '@nestjs/common';
import { JobRepository, type ExpiredJob, type RescueDecision } from '../job.repository';
import { JobHandlerRegistry } from '../discovery/job-handler.registry';
import { JobEventDispatcher, jobEventJobOf } from '../events/job-event.dispatcher';
import { JOB_QUEUE_OPTIONS } from '../job-queue.constants';
import { messages } from '../job-queue.messages';
import type { ResolvedJobQueueOptions } from '../interfaces/job-queue-options.interface';
import { JobQueueMetrics } from '../observability/job-queue.metrics';
import { JobLeaseExpiredError } from '../errors/job-queue.errors';
import { RetryDelays } from '../worker/retry-delays';
import { RecurringTask } from './recurring-task';

/**
 * The recovery cron, on every instance: jobs whose lease expired (their instance died or stalled) go back to
 * pending with backoff, or to the dead-letter table as `lease expired` once their attempts are spent, so a job that
 * kills its process on every try stops after `max_attempts`. Safe on every instance at once (SKIP LOCKED).
 */
@Injectable()
export class JobRescuer {
  private readonly logger = new Logger('JobQueue');
  private readonly task: RecurringTask;
  /** Set when shutdown begins: a run under way ends after its current batch instead of working through the rest. */
  private stopping = false;
  private readonly delays: RetryDelays;

  constructor(
    @Inject(JOB_QUEUE_OPTIONS) private readonly options: ResolvedJobQueueOptions,
    private readonly repository: JobRepository,
    private readonly registry: JobHandlerRegistry,
    private readonly metrics: JobQueueMetrics,
    private readonly events: JobEventDispatcher,
  ) {
    this.delays = new RetryDelays(options, this.logger);
    this.task = new RecurringTask(`job-queue:${options.schema}:rescuer`, options.recoveryIntervalMs, () =>
      this.rescueAll(),
    );
  }

  start(): void {
    this.stopping = false;
    this.task.start();
  }

  stop(): Promise<void> {
    this.stopping = true;
    return this.task.stop();
  }

  runOnce(): Promise<void> {
    return this.task.runOnce();
  }

  private async rescueAll(): Promise<void> {
    const limit = this.options.recoveryBatchSize;
    for (;;) {
      const { retried, killed } = await this.repository.rescueExpired(
        this.options.leaseMs,
        limit,
        (job) => this.decide(job),
        messages.leaseExpired(),
      );
      for (const job of retried) {
        this.metrics.jobRecovered(job, false);
        this.logger.warn(messages.jobRescued(job.id, job.type, job.attempt_count, job.max_attempts));
      }
      for (const job of killed) {
        this.metrics.jobRecovered(job, true);
        this.logger.warn(messages.jobRescuedToDeadLetter(job.id, job.type, job.attempt_count, job.max_attempts));
      }
      // Committed: the hooks of this instance hear of them (the instance that rescued a job, whatever its type).
      const error = messages.leaseExpired();
      this.events.dispatch('failed', listenedTo(this.events, 'failed', retried, error));
      this.events.dispatch('dead', listenedTo(this.events, 'dead', killed, error));
      if (retried.length + killed.length < limit || this.stopping) return;
    }
  }

  /**
   * Called per job inside the batch's transaction: it must never throw, or the batch rolls back and, expired rows
   * being taken oldest first, the same job heads every batch again. `RetryDelays` guards a custom backoff.
   */
  private decide(job: ExpiredJob): RescueDecision {
    if (job.attempt_count >= job.max_attempts) return 'kill';
    const error = new JobLeaseExpiredError(messages.leaseExpired());
    return {
      retryInMs: this.delays.delayMs(job.type, this.registry.get(job.type)?.options.backoff, job.attempt_count, error),
    };
  }
}

/** The events of rescued jobs some hook listens to. */
function listenedTo(events: JobEventDispatcher, event: 'failed' | 'dead', jobs: ExpiredJob[], error: string) {
  return jobs.filter((job) => events.listens(event, job.type)).map((job) => jobEventJobOf(job, { error }));
}
