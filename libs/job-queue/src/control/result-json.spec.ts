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

  it('drops NUL characters, which jsonb refuses, from strings and keys', () => {
    expect(resultJson('a\u0000b', 100)).toBe('"ab"');
    expect(resultJson({ 'k\u0000': ['v\u0000', 1] }, 100)).toBe('{"k":["v",1]}');
  });

  it('keeps the text `\\u0000` (a backslash, then u0000) as it is: it is no NUL', () => {
    expect(JSON.parse(resultJson('x\\u0000y', 100)!)).toBe('x\\u0000y');
    expect(JSON.parse(resultJson('x\\\u0000y', 100)!)).toBe('x\\y');
  });

  it('replaces an unpaired surrogate, which jsonb refuses, by U+FFFD and keeps a pair', () => {
    expect(JSON.parse(resultJson('Hello 😀'.slice(0, 7), 100)!)).toBe('Hello \uFFFD');
    expect(JSON.parse(resultJson(['\uDE00x', 'Hello 😀'], 100)!)).toEqual(['\uFFFDx', 'Hello 😀']);
    expect(JSON.parse(resultJson({ ['a\uD83D']: 1 }, 100)!)).toEqual({ 'a\uFFFD': 1 });
  });

  it('cleans what toJSON returns, keeps a key named __proto__, and still finds a cycle', () => {
    expect(resultJson({ toJSON: () => 'a\u0000' }, 100)).toBe('"a"');
    expect(JSON.parse(resultJson(JSON.parse('{"__proto__":1,"\\u0000":2}'), 100)!)).toEqual(
      JSON.parse('{"__proto__":1,"":2}'),
    );
    const cycle: Record<string, unknown> = { 'k\u0000': 'v' };
    cycle.self = cycle;
    expect(resultJson(cycle, 1_000)).toBeNull();
  });

  it('counts the cleaned text against the limit', () => {
    expect(resultJson('\u0000'.repeat(50) + 'a', 3)).toBe('"a"');
  });
});
