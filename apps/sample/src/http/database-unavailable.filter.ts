import { ArgumentsHost, Catch, HttpException, HttpStatus } from '@nestjs/common';
import { BaseExceptionFilter } from '@nestjs/core';

/** SQLSTATE classes that mean "the database cannot serve you now": connection (08), resources (53), operator (57). */
const UNAVAILABLE_CLASSES = new Set(['08', '53', '57']);
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
]);

/** True for errors that say the database is out of reach or out of connections, not that the request was wrong. */
export function isDatabaseUnavailable(error: unknown): boolean {
  const e = error as { code?: unknown; message?: unknown; driverError?: unknown } | null;
  if (!e || typeof e !== 'object') return false;
  if (e.driverError) return isDatabaseUnavailable(e.driverError); // TypeORM's QueryFailedError
  const code = typeof e.code === 'string' ? e.code : '';
  if (/^[0-9A-Z]{5}$/.test(code)) return UNAVAILABLE_CLASSES.has(code.slice(0, 2));
  if (NETWORK_CODES.has(code)) return true;
  // pg's own connection errors carry no code.
  return /Connection terminated|timeout exceeded when trying to connect/.test(
    typeof e.message === 'string' ? e.message : '',
  );
}

/**
 * A database that refuses connections (out of slots, restarting, unreachable) is the server's temporary problem:
 * 503 with the reason, which clients may retry, instead of an opaque 500. Everything else goes to Nest's default.
 */
@Catch()
export class DatabaseUnavailableFilter extends BaseExceptionFilter {
  override catch(error: unknown, host: ArgumentsHost): void {
    if (error instanceof HttpException || !isDatabaseUnavailable(error) || host.getType() !== 'http') {
      return super.catch(error, host);
    }
    host
      .switchToHttp()
      .getResponse<{ status(code: number): { json(body: unknown): void } }>()
      .status(HttpStatus.SERVICE_UNAVAILABLE)
      .json({
        statusCode: HttpStatus.SERVICE_UNAVAILABLE,
        error: 'Service Unavailable',
        message: `database unavailable: ${(error as Error).message}`,
      });
  }
}
