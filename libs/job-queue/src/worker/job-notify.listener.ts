import { Inject, Injectable, Logger } from '@nestjs/common';
import { Client, type ClientConfig } from 'pg';
import { JobRepository } from '../job.repository';
import { JOB_QUEUE_OPTIONS } from '../job-queue.constants';
import type { ResolvedJobQueueOptions } from '../interfaces/job-queue-options.interface';
import { JobQueueMetrics } from '../observability/job-queue.metrics';
import { JobPoller } from './job.poller';
import { JobExecutor } from './job.executor';
import { cancelledIds } from '../control/cancel-message';

const MAX_RECONNECT_DELAY_MS = 10_000;
/** How long shutdown waits for the LISTEN connection to close politely before it drops the socket. */
const CLOSE_DEADLINE_MS = 2_000;
/** TCP keepalive on the LISTEN connection: the kernel probes an idle socket after this long. */
const KEEPALIVE_DELAY_MS = 10_000;

/**
 * LISTENs for the producer's NOTIFY on a dedicated connection outside the pool (a pooled connection would be
 * returned and lose its LISTEN), and wakes the claim loop. A notification carries only the queue name. When the
 * connection drops it reconnects with backoff and wakes the loop once, since notifications may have been missed;
 * meanwhile the poll interval keeps work moving.
 *
 * A LISTEN connection is idle for long stretches, so a socket dropped without a word (a NAT or firewall forgetting
 * it, a host vanishing) would go unnoticed and the instance would wait for notifications that never come. So the
 * connection uses TCP keepalive, and every `listenerCheckIntervalMs` it is asked a query: one that has not answered
 * by the next check counts as lost. At shutdown, closing it has a deadline: a polite close waits for the server's
 * answer, which a dead socket never sends.
 */
@Injectable()
export class JobNotifyListener {
  private readonly logger = new Logger('JobQueue');
  private client: Client | undefined;
  private stopped = true;
  private failures = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private checkTimer: NodeJS.Timeout | undefined;
  /** A connection still being opened: shutdown closes it too, or a connect that hangs would outlive the app. */
  private connecting: Client | undefined;
  /** The liveness query sent at the last check, until it answers. */
  private checking = false;
  private readonly queues: Set<string>;

  constructor(
    @Inject(JOB_QUEUE_OPTIONS) private readonly options: ResolvedJobQueueOptions,
    private readonly repository: JobRepository,
    private readonly poller: JobPoller,
    private readonly metrics: JobQueueMetrics,
    private readonly executor: JobExecutor,
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
    clearInterval(this.checkTimer);
    const clients = [this.client, this.connecting].filter((c): c is Client => c !== undefined);
    this.client = undefined;
    this.metrics.listenerState(false);
    await Promise.all(clients.map((client) => endWithin(client, CLOSE_DEADLINE_MS)));
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const pool = this.repository.pool as unknown as { options: ClientConfig };
    const client = new Client({
      ...pool.options,
      application_name: `job-queue-listener:${this.options.instanceId}`,
      keepAlive: true,
      keepAliveInitialDelayMillis: KEEPALIVE_DELAY_MS,
    });
    client.on('error', (error) => this.lost(client, error));
    client.on('end', () => this.lost(client, new Error('connection ended')));
    client.on('notification', (message) => {
      const cancelled = cancelledIds(message.payload);
      if (cancelled) return this.executor.cancel(cancelled);
      if (message.payload === undefined || this.queues.has(message.payload)) this.poller.wake();
    });
    this.connecting = client;
    try {
      await client.connect();
      await client.query(`LISTEN "${this.repository.tables.channel}"`);
      if (this.stopped) {
        await endWithin(client, CLOSE_DEADLINE_MS);
        return;
      }
      this.client = client;
      if (this.failures > 0) this.logger.log('Listening for new jobs again');
      this.failures = 0;
      this.metrics.listenerState(true);
      this.startChecks(client);
      // Notifications may have been missed while disconnected, and a reconnect means the database is back.
      this.poller.resume();
    } catch (error) {
      this.lost(client, error as Error);
    } finally {
      if (this.connecting === client) this.connecting = undefined;
    }
  }

  /** Asks the connection a query every interval; one still unanswered at the next check means the socket is dead. */
  private startChecks(client: Client): void {
    const interval = this.options.listenerCheckIntervalMs;
    clearInterval(this.checkTimer);
    this.checking = false;
    if (interval === 0) return;
    this.checkTimer = setInterval(() => {
      if (client !== this.client) return;
      if (this.checking) {
        this.lost(client, new Error(`no answer within ${interval} ms`));
        return;
      }
      this.checking = true;
      client.query('SELECT 1').then(
        () => {
          if (client === this.client) this.checking = false;
        },
        (error: Error) => this.lost(client, error),
      );
    }, interval);
  }

  private lost(client: Client, error: Error): void {
    if (client !== this.client && this.client !== undefined) return;
    this.client = undefined;
    clearInterval(this.checkTimer);
    this.checking = false;
    client.removeAllListeners('end');
    client.on('error', () => undefined);
    void endWithin(client, CLOSE_DEADLINE_MS);
    this.metrics.listenerState(false);
    if (this.stopped || this.reconnectTimer) return;
    this.failures += 1;
    const delay = Math.min(MAX_RECONNECT_DELAY_MS, 250 * 2 ** Math.min(this.failures - 1, 10));
    this.logger.warn(
      `LISTEN connection lost (${error.message}); polling every ${this.options.pollIntervalMs} ms, reconnecting in ${delay} ms`,
    );
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      void this.connect();
    }, delay);
  }
}

/**
 * Closes a client, dropping its socket when the server does not answer in time: `end()` waits for the server's
 * goodbye, which a silently dropped connection never sends, and an open socket would keep the process alive.
 */
async function endWithin(client: Client, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), ms)));
  const outcome = await Promise.race([client.end().catch(() => undefined), deadline]);
  clearTimeout(timer);
  if (outcome === 'late')
    (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
}
