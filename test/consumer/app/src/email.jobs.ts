// email.jobs.ts
import { Injectable } from '@nestjs/common';
import { JobHandler, UnrecoverableJobError, type JobContext } from 'nestjs-pg-job-queue';

export interface WelcomeEmail {
  to: string;
}

@Injectable()
export class EmailJobs {
  readonly sent: string[] = []; // stands in for a mailer

  @JobHandler('email.send', { maxAttempts: 8, backoff: { type: 'exponential', maxDelayMs: 600_000 } })
  async send(payload: WelcomeEmail, ctx: JobContext): Promise<void> {
    if (!payload.to.includes('@')) throw new UnrecoverableJobError(`not an address: ${payload.to}`); // dead-letter
    ctx.signal.throwIfAborted(); // a real mailer takes the signal; a throw retries the job with backoff
    this.sent.push(payload.to);
  }
}
