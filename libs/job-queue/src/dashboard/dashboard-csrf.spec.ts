import { CSRF_COOKIE, csrfCookie, csrfProblem, csrfTokenFor, newCsrfToken, readCookie } from './dashboard-csrf';

describe('dashboard csrf', () => {
  const token = newCsrfToken();
  const ok = {
    cookieHeader: `a=b; ${CSRF_COOKIE}=${token}`,
    formToken: token,
    origin: 'http://localhost:8080',
    secFetchSite: 'same-origin',
    host: 'localhost:8080',
  };

  it('accepts a same-origin POST whose field matches its cookie', () => {
    expect(csrfProblem(ok)).toBeNull();
    expect(csrfProblem({ ...ok, origin: undefined, secFetchSite: undefined })).toBeNull();
  });

  it('refuses a missing or different token', () => {
    expect(csrfProblem({ ...ok, formToken: undefined })).toMatch(/no dashboard token/);
    expect(csrfProblem({ ...ok, cookieHeader: 'a=b' })).toMatch(/no dashboard token/);
    expect(csrfProblem({ ...ok, formToken: newCsrfToken() })).toMatch(/does not match/);
    expect(csrfProblem({ ...ok, formToken: 'short' })).toMatch(/does not match/);
  });

  it('refuses cross-site requests even with matching tokens', () => {
    expect(csrfProblem({ ...ok, secFetchSite: 'cross-site' })).toMatch(/cross-site/);
    expect(csrfProblem({ ...ok, secFetchSite: 'same-site' })).toMatch(/same-site/);
    expect(csrfProblem({ ...ok, secFetchSite: 'cross-site', host: 'evil.example' })).toMatch(/cross-site/);
    expect(csrfProblem({ ...ok, secFetchSite: 'none' })).toMatch(/none/);
  });

  it('takes the browser at its word behind a proxy that rewrites Host', () => {
    // nginx's default `proxy_set_header Host $proxy_host`: the app sees its upstream address, not the public name
    const proxied = { ...ok, origin: 'https://ops.example.com', host: '127.0.0.1:8080' };
    expect(csrfProblem(proxied)).toBeNull();
    expect(csrfProblem({ ...proxied, secFetchSite: 'cross-site' })).toMatch(/cross-site/);
    expect(csrfProblem({ ...proxied, formToken: newCsrfToken() })).toMatch(/does not match/);
  });

  it('compares Origin with Host only when the browser sends no Sec-Fetch-Site', () => {
    const older = { ...ok, secFetchSite: undefined };
    expect(csrfProblem(older)).toBeNull();
    expect(csrfProblem({ ...older, origin: 'http://evil.example' })).toMatch(/another origin/);
    expect(csrfProblem({ ...older, origin: 'null' })).toMatch(/another origin/);
    expect(csrfProblem({ ...older, origin: 'https://ops.example.com', host: '127.0.0.1:8080' })).toMatch(
      /another origin/,
    );
  });

  it('reuses a well-formed cookie token and replaces a malformed one', () => {
    expect(csrfTokenFor(`${CSRF_COOKIE}=${token}`)).toEqual({ token, isNew: false });
    const fresh = csrfTokenFor(`${CSRF_COOKIE}=<bad>`);
    expect(fresh.isNew).toBe(true);
    expect(fresh.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(readCookie('x=1; y = 2', 'y')).toBe('2');
  });

  it('sets a strict, http-only cookie scoped to the mount path', () => {
    expect(csrfCookie(token, '/dashboard', false)).toBe(
      `${CSRF_COOKIE}=${token}; Path=/dashboard; HttpOnly; SameSite=Strict`,
    );
    expect(csrfCookie(token, '', true)).toMatch(/Path=\/; HttpOnly; SameSite=Strict; Secure$/);
  });
});
