/**
 * HTML built from tagged templates that escape every interpolated value unless it is already `Html` (the output of
 * another template). Markup is never assembled from strings any other way, so a payload holding `<script>` is shown
 * as text wherever it appears.
 */
export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => ENTITIES[c]);
}

type Part = Html | string | number | boolean | null | undefined | Date | Part[];

function render(part: Part): string {
  if (part === null || part === undefined || part === false) return '';
  if (part instanceof Html) return part.text;
  if (Array.isArray(part)) return part.map(render).join('');
  if (part instanceof Date) return escapeHtml(part.toISOString());
  return escapeHtml(part);
}

export function html(strings: TemplateStringsArray, ...values: Part[]): Html {
  let out = strings[0];
  values.forEach((value, i) => (out += render(value) + strings[i + 1]));
  return new Html(out);
}

/** Markup of the library's own (a constant, never data) passed through as it is. */
export function trusted(markup: string): Html {
  return new Html(markup);
}

/** A query string from the defined entries, each key and value URL-encoded (then escaped as any value). */
export function query(params: Record<string, string | number | null | undefined>): string {
  const entries = Object.entries(params).filter((e): e is [string, string | number] => e[1] != null && e[1] !== '');
  if (entries.length === 0) return '';
  return '?' + entries.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`).join('&');
}
