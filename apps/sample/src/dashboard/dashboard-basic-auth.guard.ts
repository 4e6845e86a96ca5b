import { Inject, Injectable, UnauthorizedException, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { createHash, timingSafeEqual } from 'node:crypto';

export const DASHBOARD_PASSWORD = Symbol('sample:dashboard-password');

/**
 * HTTP basic auth for the dashboard: any user name, the password of `DASHBOARD_PASSWORD`. The sample's stand-in for
 * an app's real admin guard (sessions, SSO, roles): the dashboard only asks that some guard stands in front of it.
 */
@Injectable()
export class DashboardBasicAuthGuard implements CanActivate {
  private readonly expected: Buffer;

  constructor(@Inject(DASHBOARD_PASSWORD) password: string) {
    this.expected = digest(password);
  }

  canActivate(context: ExecutionContext): boolean {
    const http = context.switchToHttp();
    const request = http.getRequest<{ headers: Record<string, string | undefined> }>();
    if (this.accepts(request.headers.authorization)) return true;
    http
      .getResponse<{ header(name: string, value: string): unknown }>()
      .header('WWW-Authenticate', 'Basic realm="job queue dashboard", charset="UTF-8"');
    throw new UnauthorizedException();
  }

  private accepts(header: string | undefined): boolean {
    const match = /^Basic ([A-Za-z0-9+/=]+)$/i.exec(header ?? '');
    if (!match) return false;
    const decoded = Buffer.from(match[1], 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return false;
    // Digests have one length whatever was typed, so the comparison's time says nothing about the password.
    return timingSafeEqual(digest(decoded.slice(colon + 1)), this.expected);
  }
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}
