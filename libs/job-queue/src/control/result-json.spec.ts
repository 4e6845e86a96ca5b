import { resultJson } from './result-json';

describe('resultJson', () => {
  it('keeps a JSON value as its text', () => {
    expect(resultJson({ sent: 3, to: ['a'] }, 1_000)).toBe('{"sent":3,"to":["a"]}');
    expect(resultJson(0, 10)).toBe('0');
    expect(resultJson(null, 10)).toBe('null');
  });

  it('keeps nothing for undefined and for values JSON cannot hold', () => {
    expect(resultJson(undefined, 10)).toBeNull();
    expect(resultJson(() => 1, 10)).toBeNull();
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    expect(resultJson(cycle, 1_000)).toBeNull();
    expect(resultJson(10n, 10)).toBeNull();
  });

  it('replaces a text over the limit, counted in UTF-8 bytes, by a marker with its size', () => {
    expect(resultJson('ééé', 8)).toBe('"ééé"');
    expect(JSON.parse(resultJson('éééé', 8)!)).toEqual({ truncated: true, bytes: 10 });
  });

  it('drops NUL characters, which jsonb refuses', () => {
    expect(resultJson('a\u0000b', 100)).toBe('"ab"');
  });
});
