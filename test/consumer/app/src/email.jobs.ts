// email.jobs.ts
import { Injectable } from '@nestjs/common';
import { JobHandler, UnrecoverableJobError, type JobContext } from 'nestjs-pg-job-queue';

export interface WelcomeEmail {
  to: string;
}

@Injectable()
export class EmailJobs {
  readonly sent: string[] = []; // stands in for a mail service here

  @JobHandler('email.send', { maxAttempts: 8, backoff: { type: 'exponential', maxDelayMs: 600_000 } })
  async send(payload: WelcomeEmail, ctx: JobContext): Promise<void> {
    if (!payload.to.includes('@')) throw new UnrecoverableJobError(`not an address: ${payload.to}`); // dead-letter now
    // A real mailer takes `signal: ctx.signal` (aborted on timeout, lease loss and shutdown); any error it throws
    // is retried with backoff.
    ctx.signal.throwIfAborted();
    this.sent.push(payload.to);
  }
}
