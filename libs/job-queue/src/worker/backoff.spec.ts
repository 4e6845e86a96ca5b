import { backoffDelayMs, DEFAULT_MAX_BACKOFF_MS, InvalidBackoffError, MAX_BACKOFF_MS, retryDelayMs } from './backoff';

describe('backoffDelayMs', () => {
  it('is attempt × delay for linear backoff, from the module delay unless the strategy names one', () => {
    expect([1, 2, 3].map((a) => backoffDelayMs({ type: 'linear' }, a, 1000))).toEqual([1000, 2000, 3000]);
    expect(backoffDelayMs({ type: 'linear', delayMs: 50 }, 4, 1000)).toBe(200);
  });

  it('doubles without jitter up to the cap', () => {
    const b = { type: 'exponential' as const, delayMs: 100, maxDelayMs: 1000, jitter: false };
    expect([1, 2, 3, 4, 5, 60].map((a) => backoffDelayMs(b, a, 0))).toEqual([100, 200, 400, 800, 1000, 1000]);
  });

  it('draws full jitter uniformly below the exponential ceiling', () => {
    const b = { type: 'exponential' as const, delayMs: 100 };
    expect(backoffDelayMs(b, 3, 0, undefined, () => 0.5)).toBe(200);
    expect(backoffDelayMs(b, 3, 0, undefined, () => 0)).toBe(0);
    expect(backoffDelayMs(b, 200, 0, undefined, () => 0.999999)).toBeLessThanOrEqual(DEFAULT_MAX_BACKOFF_MS);
  });

  it('passes attempt and error to a custom function and clamps what it returns', () => {
    const err = new Error('x');
    const fn = jest.fn((attempt: number) => attempt * 7);
    expect(backoffDelayMs(fn, 3, 0, err)).toBe(21);
    expect(fn).toHaveBeenCalledWith(3, err);
    expect(backoffDelayMs(() => -5, 1, 0)).toBe(0);
    expect(backoffDelayMs(() => 1.6, 1, 0)).toBe(2);
    // a huge delay would overflow the database's timestamp arithmetic and make the retry write fail forever
    expect(backoffDelayMs(() => 1e300, 1, 0)).toBe(MAX_BACKOFF_MS);
    expect(backoffDelayMs(() => Infinity, 1, 0)).toBe(MAX_BACKOFF_MS);
  });

  it('refuses an answer of a custom function that is not a number', () => {
    for (const answer of [undefined, '5s', {}, Number.NaN, null]) {
      expect(() => backoffDelayMs((() => answer) as never, 1, 0)).toThrow(InvalidBackoffError);
    }
  });
});

describe('retryDelayMs', () => {
  const module = { backoff: { type: 'linear' as const }, retryDelayMs: 100 };

  it("falls back to the module's backoff when the handler's throws or answers no number, and says why", () => {
    const heard: string[] = [];
    const onInvalid = (source: string, reason: string) => heard.push(`${source}: ${reason}`);
    const throwing = () => {
      throw new TypeError('boom');
    };
    expect(retryDelayMs(module, throwing, 3, undefined, onInvalid)).toBe(300);
    expect(retryDelayMs(module, (() => '5s') as never, 2, undefined, onInvalid)).toBe(200);
    expect(heard).toEqual(['handler: threw TypeError: boom', 'handler: returned "5s"']);
  });

  it("falls back to the default linear backoff when the module's own function fails too", () => {
    const heard: string[] = [];
    const broken = { backoff: (() => undefined) as never, retryDelayMs: 50 };
    expect(retryDelayMs(broken, (() => ({})) as never, 4, undefined, (s) => heard.push(s))).toBe(200);
    expect(heard).toEqual(['handler', 'module']);
  });
});
