import { hostname } from 'node:os';
import type { ResolvedJobQueueOptions } from './interfaces/job-queue-options.interface';

/** @internal The defaults of every option, merged in one place (`resolveJobQueueOptions`); documented in docs/configuration.md. */
export const JOB_QUEUE_DEFAULTS: Readonly<Omit<ResolvedJobQueueOptions, 'dataSource' | 'connectionUrl'>> = {
  poolSize: 20,
  schema: 'job_queue',
  runMigrations: false,
  queues: ['default'],
  concurrency: 10,
  prefetch: 0,
  pollIntervalMs: 1_000,
  pollOnly: false,
  leaseMs: 30_000,
  recoveryIntervalMs: 10_000,
  maxAttempts: 5,
  retryDelayMs: 1_000,
  backoff: { type: 'linear' },
  shutdownTimeoutMs: 10_000,
  maxPayloadBytes: 1_048_576,
  instanceId: `${hostname()}-${process.pid}`,
  completionBatchDelayMs: 0,
  recoveryBatchSize: 500,
  depthSampleIntervalMs: 5_000,
  listenerCheckIntervalMs: 10_000,
  vacuumThreshold: 10_000,
  vacuumIntervalMs: 2_000,
  retention: { completedMs: 0, deadMs: 0, pruneIntervalMs: 10_000, pruneBatchSize: 500, maxResultBytes: 65_536 },
};
