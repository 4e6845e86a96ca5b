/**
 * The few request and response calls the dashboard makes, written against what Express and Fastify have in common
 * (`status`, `header`, `send` on the response; `headers`, `url` on the request), so one controller serves both.
 */
export interface DashboardRequest {
  headers: Record<string, string | string[] | undefined>;
  url: string;
  originalUrl?: string;
  body?: unknown;
  protocol?: string;
  readable?: boolean;
  on?(event: string, listener: (...args: unknown[]) => void): unknown;
}

export interface DashboardResponse {
  status(code: number): DashboardResponse;
  header(name: string, value: string): DashboardResponse;
  send(body?: string): unknown;
}

export function headerOf(req: DashboardRequest, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** The path the request was made to, with the app's mount prefix (Express keeps it in `originalUrl`). */
export function requestPath(req: DashboardRequest): string {
  return (req.originalUrl ?? req.url).split('?')[0];
}

/**
 * The dashboard's mount path: the request's path less its last `segments` segments (the route within the
 * dashboard). Links and the cookie's path are built from it, so the app may mount the dashboard anywhere.
 */
export function mountPath(req: DashboardRequest, segments: number): string {
  const parts = requestPath(req).replace(/\/+$/, '').split('/');
  return parts.slice(0, parts.length - segments).join('/');
}

const MAX_FORM_BYTES = 8 * 1024;

/**
 * The fields of a urlencoded form: the body the app's parser made (Express `urlencoded`, Fastify's formbody), or,
 * when the app parses no forms, the request stream read here (a dashboard form is a few hundred bytes).
 */
export async function readForm(req: DashboardRequest): Promise<Record<string, string>> {
  const parsed = req.body && typeof req.body === 'object' && !Buffer.isBuffer(req.body);
  // An empty object may be a JSON parser's default on a form it skipped: the stream is then still unread.
  if (parsed && (Object.keys(req.body as object).length > 0 || !req.readable)) {
    const fields: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.body as Record<string, unknown>)) if (typeof v === 'string') fields[k] = v;
    return fields;
  }
  if (typeof req.body === 'string') return Object.fromEntries(new URLSearchParams(req.body));
  if (!req.readable || !req.on) return {};
  const text = await new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on!('data', (chunk) => {
      size += (chunk as Buffer).length;
      if (size <= MAX_FORM_BYTES) chunks.push(chunk as Buffer);
    });
    req.on!('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on!('error', reject);
  });
  return Object.fromEntries(new URLSearchParams(text));
}
