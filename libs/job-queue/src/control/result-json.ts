/**
 * A handler's return value as the JSON text `finished_jobs.result` keeps: null for `undefined` or a value JSON cannot
 * represent (a function, a cycle, a BigInt); a text longer than `maxBytes` (UTF-8) is replaced by a small marker
 * that says so and how long it was, so a huge result never bloats the table or fails the completion that carries it.
 */
export function resultJson(value: unknown, maxBytes: number): string | null {
  if (value === undefined) return null;
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch {
    return null;
  }
  if (text === undefined) return null;
  // PostgreSQL's jsonb refuses the NUL character (\u0000) in strings.
  if (text.includes('\\u0000')) text = text.replaceAll('\\u0000', '');
  const bytes = Buffer.byteLength(text, 'utf8');
  return bytes <= maxBytes ? text : JSON.stringify({ truncated: true, bytes });
}
