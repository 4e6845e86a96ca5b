import type { Logger } from '@nestjs/common';
import type { BackoffOption } from '../interfaces/backoff.interface';
import { messages } from '../job-queue.messages';
import { retryDelayMs } from './backoff';

/**
 * The retry delay of one job, as the executor and the rescuer compute it: the guarded backoff rule of
 * `retryDelayMs`, with a broken custom function reported once per job type rather than once per job.
 */
export class RetryDelays {
  private readonly reported = new Set<string>();

  constructor(
    private readonly module: { backoff: BackoffOption; retryDelayMs: number },
    private readonly logger: Pick<Logger, 'warn'>,
  ) {}

  delayMs(type: string, handlerBackoff: BackoffOption | undefined, attempt: number, error: unknown): number {
    return retryDelayMs(this.module, handlerBackoff, attempt, error, (source, reason) => {
      const key = `${source}\u0000${type}`;
      if (this.reported.has(key)) return;
      this.reported.add(key);
      this.logger.warn(messages.invalidBackoff(type, source, reason));
    });
  }
}
