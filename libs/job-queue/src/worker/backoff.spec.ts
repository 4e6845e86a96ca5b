import { backoffDelayMs, DEFAULT_MAX_BACKOFF_MS, MAX_BACKOFF_MS } from './backoff';

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
    expect(backoffDelayMs(() => Number.NaN, 1, 0)).toBe(0);
    expect(backoffDelayMs(() => 1.6, 1, 0)).toBe(2);
    // a huge delay would overflow the database's timestamp arithmetic and make the retry write fail forever
    expect(backoffDelayMs(() => 1e300, 1, 0)).toBe(MAX_BACKOFF_MS);
    expect(backoffDelayMs(() => Infinity, 1, 0)).toBe(MAX_BACKOFF_MS);
  });
});
