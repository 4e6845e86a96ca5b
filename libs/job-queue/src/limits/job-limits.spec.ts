import { JobQueueConfigError } from '../errors/job-queue.errors';
import { queueTables } from '../sql/identifier';
import { limitLockKey, limitsOf } from './job-limits';

describe('limitsOf', () => {
  it('is null for a handler without limits, so its type keeps the unlimited claim', () => {
    expect(limitsOf({}, 'H.m')).toBeNull();
    expect(limitsOf({ concurrency: 5 } as never, 'H.m')).toBeNull();
  });

  it('reads each limit, with perKey false unless given', () => {
    expect(limitsOf({ globalConcurrency: 3 }, 'H.m')).toEqual({
      globalConcurrency: 3,
      concurrencyPerKey: null,
      rateLimit: null,
    });
    expect(limitsOf({ concurrencyPerKey: 2, rateLimit: { max: 20, periodMs: 1000 } }, 'H.m')).toEqual({
      globalConcurrency: null,
      concurrencyPerKey: 2,
      rateLimit: { max: 20, periodMs: 1000, perKey: false },
    });
    expect(limitsOf({ rateLimit: { max: 1, periodMs: 60_000, perKey: true } }, 'H.m')?.rateLimit?.perKey).toBe(true);
  });

  it.each([
    [{ globalConcurrency: 0 }, 'H.m globalConcurrency', /integer from 1 to/],
    [{ concurrencyPerKey: 1.5 }, 'H.m concurrencyPerKey', /integer from 1 to/],
    [{ rateLimit: 20 }, 'H.m rateLimit', /must be \{ max, periodMs, perKey\? \}/],
    [{ rateLimit: { periodMs: 1000 } }, 'H.m rateLimit.max', /is required/],
    [{ rateLimit: { max: 5 } }, 'H.m rateLimit.periodMs', /is required/],
    [{ rateLimit: { max: 5, periodMs: 86_400_001 } }, 'H.m rateLimit.periodMs', /integer from 1 to 86400000/],
    [{ rateLimit: { max: 5, periodMs: 10, perKey: 'yes' } }, 'H.m rateLimit.perKey', /boolean/],
    [{ rateLimit: { max: 5, periodMs: 10, window: 1 } }, 'H.m rateLimit.window', /not a known option/],
  ])('refuses %j with a config error naming %s', (options, option, message) => {
    let error: unknown;
    try {
      limitsOf(options, 'H.m');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(JobQueueConfigError);
    expect((error as JobQueueConfigError).option).toBe(option);
    expect((error as Error).message).toMatch(message);
  });
});

describe('limitLockKey', () => {
  it('is a signed 64-bit integer, the same for the same schema and type, different otherwise', () => {
    const key = limitLockKey('job_queue', 'demo.tenant');
    expect(BigInt(key) >= -(2n ** 63n) && BigInt(key) < 2n ** 63n).toBe(true);
    expect(limitLockKey('job_queue', 'demo.tenant')).toBe(key);
    expect(limitLockKey('other', 'demo.tenant')).not.toBe(key);
    expect(limitLockKey('job_queue', 'demo.limited')).not.toBe(key);
  });

  it('is the same in every release: instances of two releases in one rolling deploy take the same lock', () => {
    // Fixed values: a change to either would split the lock between releases. The schema enters as its statement
    // key, kept whole up to 24 characters.
    const key = (schema: string) => limitLockKey(queueTables(schema).statementKey, 'demo.tenant');
    expect(key('job_queue')).toBe(limitLockKey('job_queue', 'demo.tenant'));
    expect(key('a'.repeat(24))).toBe('7871440993382683156');
    expect(key('a'.repeat(25))).toBe('4912293785505702097');
  });
});
