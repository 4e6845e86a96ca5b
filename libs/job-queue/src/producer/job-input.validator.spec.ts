import { JobValidationError } from '../errors/job-queue.errors';
import { validateJob } from './job-input.validator';

const LIMIT = 1_000;

function fieldOf(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(JobValidationError);
    return (error as JobValidationError).field;
  }
  throw new Error('expected a JobValidationError');
}

describe('validateJob', () => {
  it('normalises a valid job with defaults', () => {
    expect(validateJob({ type: 'email.send', payload: { to: 'x' } }, LIMIT)).toEqual({
      type: 'email.send',
      queue: 'default',
      payloadJson: '{"to":"x"}',
      priority: 0,
      runAt: null,
      delayMs: 0,
      maxAttempts: null,
      idempotencyKey: null,
      concurrencyKey: null,
    });
  });

  it.each([
    [{ type: 'has space', payload: 1 }, 'type'],
    [{ type: '', payload: 1 }, 'type'],
    [{ type: 'x'.repeat(256), payload: 1 }, 'type'],
    [{ type: 7, payload: 1 }, 'type'],
    [{ type: 'a', payload: undefined }, 'payload'],
    [{ type: 'a', payload: 10n }, 'payload'],
    [{ type: 'a', payload: () => 1 }, 'payload'],
    [{ type: 'a', payload: 'x'.repeat(LIMIT) }, 'payload'],
    [{ type: 'a', payload: { s: 'nul\u0000' } }, 'payload'],
    [{ type: 'a', payload: 1, priority: 1.5 }, 'priority'],
    [{ type: 'a', payload: 1, priority: 2 ** 31 }, 'priority'],
    [{ type: 'a', payload: 1, delayMs: -1 }, 'delayMs'],
    [{ type: 'a', payload: 1, runAt: new Date('nope') }, 'runAt'],
    [{ type: 'a', payload: 1, runAt: new Date(), delayMs: 5 }, 'runAt'],
    [{ type: 'a', payload: 1, maxAttempts: 0 }, 'maxAttempts'],
    [{ type: 'a', payload: 1, queue: 'no queue' }, 'queue'],
    [{ type: 'a', payload: 1, idempotencyKey: '' }, 'idempotencyKey'],
    [{ type: 'a', payload: 1, concurrencyKey: '' }, 'concurrencyKey'],
    [{ type: 'a', payload: 1, concurrencyKey: 7 }, 'concurrencyKey'],
    [{ type: 'a', payload: 1, concurrencyKey: 'x'.repeat(256) }, 'concurrencyKey'],
    [{ type: 'a', payload: 1, priorty: 3 }, 'priorty'],
  ])('refuses %p naming %s', (job, field) => {
    expect(fieldOf(() => validateJob(job as never, LIMIT))).toBe(field);
  });

  it('accepts the literal text \\u0000 (a backslash, then u0000), which is no NUL character', () => {
    expect(validateJob({ type: 'a', payload: { s: '\\u0000', t: '\\\\\\u0000' } }, LIMIT).payloadJson).toBe(
      JSON.stringify({ s: '\\u0000', t: '\\\\\\u0000' }),
    );
    expect(fieldOf(() => validateJob({ type: 'a', payload: { s: '\\\u0000' } }, LIMIT))).toBe('payload');
  });

  it('refuses a circular payload', () => {
    const payload: Record<string, unknown> = {};
    payload.self = payload;
    expect(fieldOf(() => validateJob({ type: 'a', payload }, LIMIT))).toBe('payload');
  });

  it('counts the payload limit in UTF-8 bytes and names the place in a batch', () => {
    expect(() => validateJob({ type: 'a', payload: 'é'.repeat(499) }, LIMIT)).not.toThrow();
    expect(fieldOf(() => validateJob({ type: 'a', payload: 'é'.repeat(500) }, LIMIT, 'jobs[3].'))).toBe(
      'jobs[3].payload',
    );
  });
});
