import { hostname } from 'node:os';

/** The sample app's settings, read once from the environment; a bad value stops the app naming the variable. */
export interface SampleConfig {
  databaseUrl: string;
  port: number;
  instanceId: string;
  queue: {
    concurrency?: number;
    prefetch?: number;
    leaseMs?: number;
    pollIntervalMs?: number;
    recoveryIntervalMs?: number;
    maxAttempts?: number;
    retryDelayMs?: number;
    shutdownTimeoutMs?: number;
    scheduleMisfireGraceMs?: number;
    /** From JOB_QUEUE_RETENTION_MS: how long completed and cancelled jobs stay queryable (unset or 0: off). */
    retention?: { completedMs: number };
    /** From JOB_QUEUE_QUEUES, a comma-separated list (unset: the library's default queue). */
    queues?: string[];
  };
}

export const SAMPLE_CONFIG = Symbol('sample:config');

/** The JOB_QUEUE_* variables and the module option each one sets. */
const QUEUE_VARIABLES = {
  JOB_QUEUE_CONCURRENCY: 'concurrency',
  JOB_QUEUE_PREFETCH: 'prefetch',
  JOB_QUEUE_LEASE_MS: 'leaseMs',
  JOB_QUEUE_POLL_INTERVAL_MS: 'pollIntervalMs',
  JOB_QUEUE_RECOVERY_INTERVAL_MS: 'recoveryIntervalMs',
  JOB_QUEUE_MAX_ATTEMPTS: 'maxAttempts',
  JOB_QUEUE_RETRY_DELAY_MS: 'retryDelayMs',
  JOB_QUEUE_SHUTDOWN_TIMEOUT_MS: 'shutdownTimeoutMs',
  JOB_QUEUE_SCHEDULE_MISFIRE_GRACE_MS: 'scheduleMisfireGraceMs',
} as const;

function integerVariable(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  if (!/^\d+$/.test(raw.trim())) throw new Error(`${name} must be a whole number, got ${JSON.stringify(raw)}`);
  return Number(raw);
}

/** Port of the embedded PostgreSQL (used when DATABASE_URL is unset). */
export function embeddedPort(env: NodeJS.ProcessEnv): number {
  const port = integerVariable(env, 'EMBEDDED_PG_PORT') ?? 54329;
  if (port < 1 || port > 65535) throw new Error(`EMBEDDED_PG_PORT must be a port from 1 to 65535, got ${port}`);
  return port;
}

export function readSampleConfig(env: NodeJS.ProcessEnv, databaseUrl: string): SampleConfig {
  const queue: SampleConfig['queue'] = {};
  for (const [variable, option] of Object.entries(QUEUE_VARIABLES)) {
    const value = integerVariable(env, variable);
    if (value !== undefined) queue[option] = value;
  }
  const retentionMs = integerVariable(env, 'JOB_QUEUE_RETENTION_MS');
  if (retentionMs !== undefined && retentionMs > 0) queue.retention = { completedMs: retentionMs };
  const queues = env.JOB_QUEUE_QUEUES?.split(',')
    .map((q) => q.trim())
    .filter((q) => q.length > 0);
  if (queues && queues.length > 0) queue.queues = queues;
  return {
    databaseUrl,
    port: integerVariable(env, 'PORT') ?? 8080,
    instanceId: env.INSTANCE_ID || `${hostname()}-${process.pid}`,
    queue,
  };
}
