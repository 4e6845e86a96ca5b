import { SetMetadata } from '@nestjs/common';
import { JOB_HANDLER_METADATA } from '../job-queue.constants';
import type { JobHandlerOptions } from '../interfaces/job-handler-options.interface';

export interface JobHandlerMetadata {
  type: string;
  options: JobHandlerOptions;
}

/**
 * Marks a provider method as the handler of one job type: `(payload, ctx: JobContext) => Promise<void>`.
 * Throwing fails the attempt (retried with backoff); throwing `UnrecoverableJobError` dead-letters the job.
 */
export const JobHandler = (type: string, options: JobHandlerOptions = {}): MethodDecorator =>
  SetMetadata<string, JobHandlerMetadata>(JOB_HANDLER_METADATA, { type, options });
