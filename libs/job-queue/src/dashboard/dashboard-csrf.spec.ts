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
    expect(csrfProblem({ ...ok, origin: 'http://evil.example' })).toMatch(/another origin/);
    expect(csrfProblem({ ...ok, origin: 'null' })).toMatch(/another origin/);
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
