import { JobQueueConfigError } from '../errors/job-queue.errors';
import { resolveJobQueueOptions } from '../job-queue-options.resolver';
import { JOB_QUEUE_DEFAULTS } from '../job-queue.defaults';

const url = 'postgres://localhost/db';

describe('retention options', () => {
  it('is off by default', () => {
    const { retention } = resolveJobQueueOptions({ connectionUrl: url });
    expect(retention).toEqual(JOB_QUEUE_DEFAULTS.retention);
    expect(retention.completedMs).toBe(0);
    expect(retention.deadMs).toBe(0);
  });

  it('merges the given fields over the defaults', () => {
    const { retention } = resolveJobQueueOptions({ connectionUrl: url, retention: { completedMs: 60_000 } });
    expect(retention).toEqual({ ...JOB_QUEUE_DEFAULTS.retention, completedMs: 60_000 });
  });

  it('names a bad field', () => {
    const bad = (retention: unknown) => () =>
      resolveJobQueueOptions({ connectionUrl: url, retention: retention as { completedMs: number } });
    expect(bad({ completedMs: -1 })).toThrow(JobQueueConfigError);
    expect(bad({ completedMs: -1 })).toThrow(/retention\.completedMs/);
    expect(bad({ deadMs: 1.5 })).toThrow(/retention\.deadMs/);
    expect(bad({ keepMs: 1 })).toThrow(/retention\.keepMs.*not a known option/);
    expect(bad('1h')).toThrow(/retention.*must be an object/);
  });
});
