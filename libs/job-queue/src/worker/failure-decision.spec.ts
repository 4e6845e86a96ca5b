import { JobNotStartedError, JobValidationError, SnoozeJob, UnrecoverableJobError } from '../errors/job-queue.errors';
import { decideFailure, type FailedAttempt } from './failure-decision';

const lease = { id: 'job', token: 'token' };
const attempt = (over: Partial<FailedAttempt> & { attempt_count?: number } = {}): FailedAttempt => ({
  job: { attempt_count: over.attempt_count ?? 1, max_attempts: 3 },
  lease,
  abortCause: over.abortCause ?? null,
  terminated: over.terminated ?? false,
});

describe('decideFailure', () => {
  const delay = jest.fn(() => 250);
  beforeEach(() => delay.mockClear());

  it('retries with the backoff while attempts are left, recording the error', () => {
    expect(decideFailure(attempt(), new Error('boom'), delay)).toEqual({
      outcome: 'retried',
      end: { retry: { ...lease, delayMs: 250, error: 'boom' } },
      delayMs: 250,
      message: 'boom',
    });
  });

  it('dead-letters the last attempt or an unrecoverable error without asking the backoff', () => {
    expect(decideFailure(attempt({ attempt_count: 3 }), new Error('x'), delay).outcome).toBe('dead');
    expect(decideFailure(attempt(), new UnrecoverableJobError('no'), delay).outcome).toBe('dead');
    expect(delay).not.toHaveBeenCalled();
  });

  it('releases an attempt stopped by shutdown, or whose backend shutdown ended, whatever the error', () => {
    const released = { outcome: 'released', end: { release: lease } };
    expect(decideFailure(attempt({ abortCause: 'shutdown' }), new Error('aborted'), delay)).toEqual(released);
    expect(decideFailure(attempt({ abortCause: 'timeout', terminated: true }), new Error('57P01'), delay)).toEqual(
      released,
    );
  });

  it('writes nothing for a lost lease, and refunds a transaction that could not start for a transient reason', () => {
    expect(decideFailure(attempt({ abortCause: 'lease_lost' }), new Error('x'), delay)).toEqual({
      outcome: 'lease_lost',
    });
    const notStarted = new JobNotStartedError(Object.assign(new Error('too many clients'), { code: '53300' }));
    expect(decideFailure(attempt(), notStarted, delay)).toMatchObject({
      outcome: 'postponed',
      end: { retry: { refund: 1 } },
    });
  });
});

describe('decideFailure for a snooze', () => {
  const delay = jest.fn(() => 250);
  const snoozing = (snooze_count: number, maxSnoozes?: number): FailedAttempt => ({
    job: { attempt_count: 1, max_attempts: 3, snooze_count },
    lease,
    abortCause: null,
    terminated: false,
    maxSnoozes,
  });

  it('snoozes for the asked delay, without the backoff, even on the last attempt', () => {
    const last = { ...snoozing(0, 5), job: { attempt_count: 3, max_attempts: 3, snooze_count: 0 } };
    expect(decideFailure(last, new SnoozeJob(1_500), delay)).toEqual({
      outcome: 'snoozed',
      end: { snooze: { ...lease, delayMs: 1_500 } },
      delayMs: 1_500,
    });
    expect(delay).not.toHaveBeenCalled();
  });

  it('dead-letters the snooze past the cap, with a reason naming maxSnoozes', () => {
    expect(decideFailure(snoozing(4, 5), new SnoozeJob(10), delay).outcome).toBe('snoozed');
    const dead = decideFailure(snoozing(5, 5), new SnoozeJob(10), delay);
    expect(dead).toMatchObject({ outcome: 'dead', end: { kill: { ...lease, stack: null } } });
    expect((dead as { message: string }).message).toMatch(/snoozed more than maxSnoozes \(5\) times/);
  });

  it('a lost lease or shutdown wins over a snooze', () => {
    expect(decideFailure({ ...snoozing(0, 5), abortCause: 'lease_lost' }, new SnoozeJob(10), delay).outcome).toBe(
      'lease_lost',
    );
    expect(decideFailure({ ...snoozing(0, 5), abortCause: 'shutdown' }, new SnoozeJob(10), delay).outcome).toBe(
      'released',
    );
  });

  it('refuses a delay that is not a non-negative integer of ms, naming the snooze', () => {
    for (const bad of [-1, 1.5, Number.NaN, '10' as unknown as number]) {
      expect(() => new SnoozeJob(bad)).toThrow(JobValidationError);
    }
    expect(() => new SnoozeJob(-1)).toThrow(/Invalid job snooze/);
  });
});
