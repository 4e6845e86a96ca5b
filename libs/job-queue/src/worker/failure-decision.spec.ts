import { JobNotStartedError, UnrecoverableJobError } from '../errors/job-queue.errors';
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
