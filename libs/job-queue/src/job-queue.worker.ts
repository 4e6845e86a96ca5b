import { JobEventDispatcher } from './events/job-event.dispatcher';
import {
  Inject,
  Injectable,
  Logger,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { JobHandlerRegistry } from './discovery/job-handler.registry';
import { JobRepository } from './job.repository';
import { JOB_QUEUE_OPTIONS } from './job-queue.constants';
import { messages } from './job-queue.messages';
import type { ResolvedJobQueueOptions } from './interfaces/job-queue-options.interface';
import { JobHeartbeat } from './maintenance/job.heartbeat';
import { JobRescuer } from './maintenance/job.rescuer';
import { QueueDepthSampler } from './maintenance/queue-depth.sampler';
import { WorkerRegistry } from './maintenance/worker.registry';
import { TableVacuumer } from './maintenance/table.vacuumer';
import { JobExecutor } from './worker/job.executor';
import { errorMessage } from './worker/failure-decision';
import { JobNotifyListener } from './worker/job-notify.listener';
import { JobPoller } from './worker/job.poller';
import { RecurringTask } from './maintenance/recurring-task';
import { FinishedJobsPruner } from './control/finished-jobs.pruner';

/** How long aborted handlers get to settle (and release their own jobs) before shutdown releases them itself. */
const ABORT_GRACE_MS = 1_000;

/**
 * Starts and stops the queue's parts in order. Start (after every module is ready): check or migrate the schema,
 * then the rescuer, heartbeat, listener, poller. Stop (before connections close): stop claiming and listening →
 * drain up to `shutdownTimeoutMs` → abort and release the rest → stop heartbeat and writers. The DataSource is
 * closed after this, in `onApplicationShutdown`.
 */
@Injectable()
export class JobQueueWorker implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('JobQueue');
  private readonly pollTask: RecurringTask;
  private started = false;

  constructor(
    @Inject(JOB_QUEUE_OPTIONS) private readonly options: ResolvedJobQueueOptions,
    private readonly repository: JobRepository,
    private readonly registry: JobHandlerRegistry,
    private readonly executor: JobExecutor,
    private readonly poller: JobPoller,
    private readonly listener: JobNotifyListener,
    private readonly heartbeat: JobHeartbeat,
    private readonly rescuer: JobRescuer,
    private readonly sampler: QueueDepthSampler,
    private readonly workers: WorkerRegistry,
    private readonly vacuumer: TableVacuumer,
    private readonly events: JobEventDispatcher,
    private readonly pruner: FinishedJobsPruner,
  ) {
    this.pollTask = new RecurringTask(`job-queue:${options.schema}:poll`, options.pollIntervalMs, () =>
      this.poller.tick(),
    );
  }

  onApplicationBootstrap(): void {
    this.checkPoolSize();
    const types = this.registry.types();
    const working = this.options.concurrency > 0 && types.length > 0;
    // The first claim goes first: it takes the pool's connection that start-up left idle (a new one costs a
    // connection set-up), and meets no maintenance statement competing for the database's CPU.
    if (working) this.poller.start();
    this.rescuer.start();
    this.sampler.start();
    this.vacuumer.start();
    this.pruner.start();
    if (working) {
      this.heartbeat.start();
      if (!this.options.pollOnly) this.listener.start();
      this.pollTask.start();
      this.logger.log(
        `Worker ${this.options.instanceId} started: concurrency ${this.options.concurrency}, queues ` +
          `[${this.options.queues.join(', ')}], types [${types.join(', ')}]${this.options.pollOnly ? ', poll only' : ''}`,
      );
    } else if (this.options.concurrency > 0) {
      // Most likely a handler class missing from every module's providers: without a word, the app would enqueue
      // jobs that nothing here runs.
      this.logger.warn(messages.noHandlersFound(this.options.concurrency));
    } else {
      this.logger.log(messages.producerOnly(this.options.instanceId));
    }
    this.started = true;
  }

  async beforeApplicationShutdown(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    const claimsReturned = this.poller.stop();
    this.executor.stopStarting();
    const left = this.workers.leave();
    const maintenanceDone = Promise.all([
      this.pollTask.stop(),
      this.rescuer.stop(),
      this.sampler.stop(),
      this.vacuumer.stop(),
      this.pruner.stop(),
    ]);
    await this.listener.stop();
    await maintenanceDone;
    await left;
    // A claim sent before the stop may still return jobs; they must be in flight before the drain counts them.
    await claimsReturned;
    const handedBack = await this.executor.releaseQueued().catch((error) => {
      this.logger.error(
        `Releasing prefetched jobs at shutdown failed; their leases will expire: ${errorMessage(error)}`,
      );
      return 0;
    });
    if (handedBack > 0) this.logger.log(`Shutdown: ${handedBack} prefetched jobs released to pending`);
    const inFlight = this.executor.size;
    if (!(await this.executor.drain(this.options.shutdownTimeoutMs))) {
      const running = this.executor.size;
      const released = await this.executor.abortAndRelease(ABORT_GRACE_MS).catch((error) => {
        this.logger.error(`Releasing jobs at shutdown failed; their leases will expire: ${errorMessage(error)}`);
        return 0;
      });
      this.logger.warn(
        `Shutdown: ${running} jobs still running after ${this.options.shutdownTimeoutMs} ms; aborted them and released ${released} to pending`,
      );
    } else if (inFlight > 0) {
      this.logger.log(`Shutdown: ${inFlight} in-flight jobs finished`);
    }
    await this.heartbeat.stop();
    this.executor.stop();
    // Hooks of the last outcomes may still use the app's connections, which close after this.
    if (!(await this.events.drain(this.options.shutdownTimeoutMs))) {
      this.logger.warn(`Shutdown: job event hooks still running after ${this.options.shutdownTimeoutMs} ms`);
    }
  }

  private checkPoolSize(): void {
    const poolMax = (this.repository.pool as unknown as { options: { max?: number } }).options.max ?? 10;
    const transactional = this.registry
      .all()
      .filter((h) => h.options.transactional)
      .reduce((sum, h) => sum + (h.options.concurrency ?? this.options.concurrency), 0);
    // At once, at most: a claim, three finish writers (completions, retries, dead letters), the heartbeat, the
    // rescuer, the depth sampler, the vacuum, a group insert and a health ping; plus one per transactional job running.
    const needed = Math.min(transactional, this.options.concurrency) + 10;
    if (poolMax < needed) this.logger.warn(messages.poolTooSmall(poolMax, needed, !this.options.dataSource));
  }
}
