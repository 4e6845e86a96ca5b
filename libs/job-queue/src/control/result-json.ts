import { ESCAPED_NUL, ESCAPED_SURROGATE, LONE_SURROGATE } from '../producer/job-input.validator';

/**
 * A handler's return value as the JSON text `finished_jobs.result` keeps: null for `undefined` or a value JSON cannot
 * represent (a function, a cycle, a BigInt); a text longer than `maxBytes` (UTF-8) is replaced by a small marker
 * that says so and how long it was, so a huge result never bloats the table or fails the completion that carries it.
 *
 * jsonb refuses NUL characters and unpaired UTF-16 surrogates (a preview cut in the middle of an emoji), and the
 * completion that carries a refused result would fail with it. Strings and keys are cleaned before they become JSON:
 * NUL is dropped, an unpaired surrogate becomes U+FFFD. A text that still holds either (not expected) is not kept:
 * null is stored and `refused` is called, so that the job still completes.
 */
export function resultJson(value: unknown, maxBytes: number, refused?: (reason: string) => void): string | null {
  if (value === undefined) return null;
  let text = stringify(value, false);
  // Most results hold nothing to clean: one scan of their text, and no replacer slowing every result down.
  if (text !== undefined && jsonbRefuses(text)) text = stringify(value, true);
  if (text === undefined) return null;
  if (jsonbRefuses(text)) {
    refused?.('its JSON holds a NUL character or an unpaired UTF-16 surrogate, which jsonb cannot store');
    return null;
  }
  const bytes = Buffer.byteLength(text, 'utf8');
  return bytes <= maxBytes ? text : JSON.stringify({ truncated: true, bytes });
}

function jsonbRefuses(text: string): boolean {
  return ESCAPED_NUL.test(text) || ESCAPED_SURROGATE.test(text);
}

/** `JSON.stringify`, undefined where it throws; `clean` makes every string and key one jsonb stores. */
function stringify(value: unknown, clean: boolean): string | undefined {
  try {
    return clean ? JSON.stringify(value, cleaner()) : JSON.stringify(value);
  } catch {
    return undefined;
  }
}

const SURROGATE = /[\uD800-\uDFFF]/;
/** Every unpaired surrogate of a string (the validator's pattern, global). */
const LONE_SURROGATES = new RegExp(LONE_SURROGATE.source, 'g');

/**
 * Well-formed (as `String.prototype.toWellFormed`, which ES2022's typings lack, makes it: U+FFFD for each unpaired
 * surrogate) and without NUL.
 */
function storableString(text: string): string {
  if (!suspect(text)) return text;
  return text.replace(LONE_SURROGATES, '\uFFFD').replaceAll('\u0000', '');
}

/** A string that could hold what jsonb refuses; most strings do not, and are kept as they are without a copy. */
function suspect(text: string): boolean {
  return text.includes('\u0000') || SURROGATE.test(text);
}

/**
 * A `JSON.stringify` replacer (after `toJSON`) that cleans string values and keys. An object with a key to clean is
 * replaced by a copy with cleaned keys, the same copy each time it is met, so that a cycle is still found a cycle.
 */
function cleaner(): (key: string, value: unknown) => unknown {
  const copies = new WeakMap<object, Record<string, unknown>>();
  return (_key, value) => {
    if (typeof value === 'string') return storableString(value);
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
    const known = copies.get(value);
    if (known) return known;
    const keys = Object.keys(value);
    if (!keys.some(suspect)) return value;
    // No prototype: a key `__proto__` is a key like any other, as it was in the object it copies.
    const copy = Object.create(null) as Record<string, unknown>;
    for (const key of keys) copy[storableString(key)] = (value as Record<string, unknown>)[key];
    copies.set(value, copy);
    return copy;
  };
}
