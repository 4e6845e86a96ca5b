import { randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Cross-site request protection for the dashboard's actions, stateless so that any instance checks any request:
 * a double-submit token (a random cookie, `SameSite=Strict` and `HttpOnly`, set by every page; each form echoes it
 * in a hidden field; a POST must carry both and they must match: another site can make a browser send the cookie
 * but cannot read it to fill the field), plus a refusal of any request the browser marks as not same-origin
 * (`Sec-Fetch-Site`) or, from a browser that sends no `Sec-Fetch-Site`, whose `Origin` is not the `Host`.
 */
export const CSRF_COOKIE = 'jq_dashboard_csrf';
export const CSRF_FIELD = '_csrf';

const TOKEN = /^[A-Za-z0-9_-]{43}$/;

export function newCsrfToken(): string {
  return randomBytes(32).toString('base64url');
}

/** The value of cookie `name` in a `Cookie` header, if present. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** The token a page should use: the browser's own when it has a well-formed one (open tabs stay valid), else new. */
export function csrfTokenFor(cookieHeader: string | undefined): { token: string; isNew: boolean } {
  const existing = readCookie(cookieHeader, CSRF_COOKIE);
  return existing && TOKEN.test(existing) ? { token: existing, isNew: false } : { token: newCsrfToken(), isNew: true };
}

export function csrfCookie(token: string, path: string, secure: boolean): string {
  return `${CSRF_COOKIE}=${token}; Path=${path || '/'}; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`;
}

export interface CsrfCheck {
  cookieHeader: string | undefined;
  formToken: string | undefined;
  origin: string | undefined;
  secFetchSite: string | undefined;
  host: string | undefined;
}

/** Why a POST is refused, or null when it may proceed. */
export function csrfProblem(check: CsrfCheck): string | null {
  // A browser that sends Sec-Fetch-Site says itself whether the form came from this origin, and no page can set
  // or change it: that decides. `Host` may be the upstream's address behind a proxy (nginx's default
  // `proxy_set_header Host $proxy_host`), so Origin is compared with it only for browsers too old to send one.
  // `X-Forwarded-Host` is not read: any client can set it.
  if (check.secFetchSite !== undefined) {
    if (check.secFetchSite !== 'same-origin') return `a ${check.secFetchSite} request (Sec-Fetch-Site)`;
  } else if (check.origin !== undefined && !sameHost(check.origin, check.host)) {
    return `a request from another origin (${check.origin})`;
  }
  const cookie = readCookie(check.cookieHeader, CSRF_COOKIE);
  if (!cookie || !check.formToken) return 'no dashboard token (reload the page and try again)';
  const a = Buffer.from(cookie);
  const b = Buffer.from(check.formToken);
  if (a.length !== b.length || !timingSafeEqual(a, b)) return 'a dashboard token that does not match (reload the page)';
  return null;
}

function sameHost(origin: string, host: string | undefined): boolean {
  if (!host) return false;
  try {
    return new URL(origin).host === host;
  } catch {
    return false; // `null` (an opaque origin, e.g. a sandboxed frame) or garbage
  }
}
