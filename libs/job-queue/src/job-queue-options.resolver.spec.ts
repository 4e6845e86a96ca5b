import { JobQueueConfigError } from './errors/job-queue.errors';
import { JOB_QUEUE_DEFAULTS } from './job-queue.defaults';
import { resolveJobQueueOptions } from './job-queue-options.resolver';

const url = 'postgres://localhost/db';

describe('resolveJobQueueOptions', () => {
  it('fills every default from the one defaults object', () => {
    expect(resolveJobQueueOptions({ connectionUrl: url })).toEqual({ ...JOB_QUEUE_DEFAULTS, connectionUrl: url });
  });

  it('checks the documented defaults explicitly', () => {
    expect(JOB_QUEUE_DEFAULTS).toMatchObject({
      schema: 'job_queue',
      concurrency: 10,
      prefetch: 0,
      leaseMs: 30_000,
      maxAttempts: 5,
      retryDelayMs: 1_000,
      backoff: { type: 'linear' },
      maxPayloadBytes: 1_048_576,
      queues: ['default'],
      pollOnly: false,
      runMigrations: false,
      vacuumThreshold: 10_000,
      vacuumIntervalMs: 2_000,
    });
  });

  it('keeps a given value over the default and ignores undefined ones', () => {
    const options = resolveJobQueueOptions({ connectionUrl: url, concurrency: 3, leaseMs: undefined });
    expect(options.concurrency).toBe(3);
    expect(options.leaseMs).toBe(30_000);
  });

  it.each([
    [{ concurrency: -1 }, 'concurrency'],
    [{ concurrency: 1.5 }, 'concurrency'],
    [{ prefetch: -1 }, 'prefetch'],
    [{ prefetch: 20_000 }, 'prefetch'],
    [{ leaseMs: 10 }, 'leaseMs'],
    [{ vacuumThreshold: -1 }, 'vacuumThreshold'],
    [{ vacuumIntervalMs: 10 }, 'vacuumIntervalMs'],
    [{ schema: 'bad-name; drop table x' }, 'schema'],
    [{ schema: 'Upper' }, 'schema'],
    [{ queues: [] }, 'queues'],
    [{ queues: ['ok', 'not ok'] }, 'queues'],
    [{ backoff: { type: 'quadratic' } }, 'backoff'],
    [{ backoff: { type: 'exponential', maxDelayMs: -1 } }, 'backoff.maxDelayMs'],
    [{ pollIntervalMs: 2 ** 31 }, 'pollIntervalMs'],
    [{ shutdownTimeoutMs: 1e12 }, 'shutdownTimeoutMs'],
    [{ pollOnly: 'yes' }, 'pollOnly'],
    [{ instanceId: '' }, 'instanceId'],
    [{ concurency: 4 }, 'concurency'],
  ])('refuses %j naming the option', (bad, option) => {
    const run = () => resolveJobQueueOptions({ connectionUrl: url, ...(bad as object) });
    expect(run).toThrow(JobQueueConfigError);
    expect(run).toThrow(new RegExp(`"${option}"`));
  });

  it('requires a connection', () => {
    expect(() => resolveJobQueueOptions({})).toThrow(/"connectionUrl" or "dataSource" is required/);
    expect(() => resolveJobQueueOptions({ connectionUrl: 'mysql://x' })).toThrow(/"connectionUrl"/);
  });
});
