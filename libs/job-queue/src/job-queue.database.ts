import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import type { Pool } from 'pg';
import { DataSource } from 'typeorm';
import { JobQueueError } from './errors/job-queue.errors';
import { JOB_QUEUE_OPTIONS } from './job-queue.constants';
import { messages } from './job-queue.messages';
import { guardPoolClients } from './pool-client.guard';
import { errorMessage } from './worker/failure-decision';
import type { ResolvedJobQueueOptions } from './interfaces/job-queue-options.interface';

/**
 * The DataSource the queue runs on: the app's own when given (never closed here: the app owns it), or one opened
 * from `connectionUrl` and closed at the very end of shutdown, after every in-flight job was drained or released.
 */
@Injectable()
export class JobQueueDatabase implements OnApplicationShutdown {
  private readonly logger = new Logger('JobQueue');
  private owned: DataSource | undefined;

  constructor(@Inject(JOB_QUEUE_OPTIONS) private readonly options: ResolvedJobQueueOptions) {}

  async open(): Promise<DataSource> {
    const given = this.options.dataSource;
    if (given) {
      if (!given.isInitialized) await this.initialise(given);
      this.guard(given);
      return given;
    }
    this.owned = new DataSource({
      type: 'postgres',
      url: this.options.connectionUrl,
      extra: { max: this.options.poolSize, application_name: `job-queue:${this.options.instanceId}` },
    });
    await this.initialise(this.owned);
    this.guard(this.owned);
    return this.owned;
  }

  /** Every pool of the DataSource (primary and replicas): the app's own queries share them with the queue. */
  private guard(dataSource: DataSource): void {
    const driver = dataSource.driver as unknown as { master?: Pool; slaves?: Pool[] };
    for (const pool of [driver.master, ...(driver.slaves ?? [])]) {
      if (pool) guardPoolClients(pool, (error) => this.logger.debug(`A pooled connection failed: ${error.message}`));
    }
  }

  async onApplicationShutdown(): Promise<void> {
    await this.close();
  }

  /**
   * Runs a start-up step (the schema check, the handlers' and hooks' validation). When it fails the app does not
   * start and no shutdown hook runs: the pool the queue opened is closed before the error goes on, or it would
   * outlive the failure (a test runner, an app that catches the error and retries).
   */
  async startupStep<T>(step: () => T | Promise<T>): Promise<T> {
    try {
      return await step();
    } catch (error) {
      await this.close();
      throw error;
    }
  }

  /** Closes the DataSource the queue opened itself (never the app's). */
  async close(): Promise<void> {
    if (this.owned?.isInitialized)
      await this.owned.destroy().catch((e) => this.logger.warn(`Closing the pool: ${errorMessage(e)}`));
  }

  private async initialise(dataSource: DataSource): Promise<void> {
    try {
      await dataSource.initialize();
    } catch (error) {
      throw new JobQueueError(messages.databaseUnreachable(describe(error)));
    }
  }
}

function describe(error: unknown): string {
  const e = error as { message?: string; code?: string; errors?: Array<{ message: string }> };
  // pg reports a refused connection as an AggregateError with an empty message (one error per address tried).
  const message = e.message || e.errors?.map((x) => x.message).join('; ') || String(error);
  return e.code ? `${message} (${e.code})` : message;
}
