import { Inject, Injectable, Logger } from '@nestjs/common';
import { Client, type ClientConfig } from 'pg';
import { JobRepository } from '../job.repository';
import { JOB_QUEUE_OPTIONS } from '../job-queue.constants';
import type { ResolvedJobQueueOptions } from '../interfaces/job-queue-options.interface';
import { JobQueueMetrics } from '../observability/job-queue.metrics';
import { JobPoller } from './job.poller';

const MAX_RECONNECT_DELAY_MS = 10_000;

/**
 * LISTENs for the producer's NOTIFY on a dedicated connection outside the pool (a pooled connection would be
 * returned and lose its LISTEN), and wakes the claim loop. A notification carries only the queue name. When the
 * connection drops it reconnects with backoff and wakes the loop once, since notifications may have been missed;
 * meanwhile the poll interval keeps work moving.
 */
@Injectable()
export class JobNotifyListener {
  private readonly logger = new Logger('JobQueue');
  private client: Client | undefined;
  private stopped = true;
  private failures = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private readonly queues: Set<string>;

  constructor(
    @Inject(JOB_QUEUE_OPTIONS) private readonly options: ResolvedJobQueueOptions,
    private readonly repository: JobRepository,
    private readonly poller: JobPoller,
    private readonly metrics: JobQueueMetrics,
  ) {
    this.queues = new Set(options.queues);
  }

  get connected(): boolean {
    return this.client !== undefined;
  }

  start(): void {
    this.stopped = false;
    this.metrics.listenerState(false);
    void this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    const client = this.client;
    this.client = undefined;
    this.metrics.listenerState(false);
    await client?.end().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const pool = this.repository.pool as unknown as { options: ClientConfig };
    const client = new Client({ ...pool.options, application_name: `job-queue-listener:${this.options.instanceId}` });
    client.on('error', (error) => this.lost(client, error));
    client.on('end', () => this.lost(client, new Error('connection ended')));
    client.on('notification', (message) => {
      if (message.payload === undefined || this.queues.has(message.payload)) this.poller.wake();
    });
    try {
      await client.connect();
      await client.query(`LISTEN "${this.repository.tables.channel}"`);
      if (this.stopped) {
        await client.end();
        return;
      }
      this.client = client;
      if (this.failures > 0) this.logger.log('Listening for new jobs again');
      this.failures = 0;
      this.metrics.listenerState(true);
      // Notifications may have been missed while disconnected, and a reconnect means the database is back.
      this.poller.resume();
    } catch (error) {
      this.lost(client, error as Error);
    }
  }

  private lost(client: Client, error: Error): void {
    if (client !== this.client && this.client !== undefined) return;
    this.client = undefined;
    client.removeAllListeners('end');
    client.on('error', () => undefined);
    void client.end().catch(() => undefined);
    this.metrics.listenerState(false);
    if (this.stopped || this.reconnectTimer) return;
    this.failures += 1;
    const delay = Math.min(MAX_RECONNECT_DELAY_MS, 250 * 2 ** Math.min(this.failures - 1, 10));
    this.logger.warn(`LISTEN connection lost (${error.message}); polling every ${this.options.pollIntervalMs} ms, reconnecting in ${delay} ms`);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      void this.connect();
    }, delay);
  }
}
