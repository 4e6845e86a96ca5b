import type { LoggerService } from '@nestjs/common';

/** A Nest logger that keeps the warnings, for tests that assert what an app said (or did not say). */
export class CapturingLogger implements LoggerService {
  readonly warnings: string[] = [];
  log() {}
  error() {}
  debug() {}
  verbose() {}
  warn(message: unknown) {
    this.warnings.push(String(message));
  }
}
