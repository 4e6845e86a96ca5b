import type { LoggerService } from '@nestjs/common';

/** A Nest logger that keeps the logs and warnings, for tests that assert what an app said (or did not say). */
export class CapturingLogger implements LoggerService {
  readonly logs: string[] = [];
  readonly warnings: string[] = [];
  log(message: unknown) {
    this.logs.push(String(message));
  }
  error() {}
  debug() {}
  verbose() {}
  warn(message: unknown) {
    this.warnings.push(String(message));
  }
}
