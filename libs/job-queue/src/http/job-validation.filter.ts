import { Catch, HttpStatus, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import { JobValidationError } from '../errors/job-queue.errors';

/** The body of a 400 answered for a `JobValidationError`: Nest's usual error shape, plus the field at fault. */
export interface JobValidationErrorBody {
  statusCode: 400;
  error: 'Bad Request';
  message: string;
  /** The input field the error is about (`type`, `payload`, `priority`, `jobs[3].runAt`, …). */
  field: string;
}

/** Express answers with `status().json()`, Fastify with `code().send()`. */
interface HttpResponse {
  status?(code: number): { json(body: unknown): void };
  code?(code: number): { send(body: unknown): void };
}

/**
 * Turns the library's `JobValidationError` (bad input to `enqueue`/`enqueueMany`; nothing was written) into a 400
 * naming the field, instead of Nest's 500. Register it once: `app.useGlobalFilters(new JobValidationFilter())`, or
 * per controller with `@UseFilters(JobValidationFilter)`. Other errors are not caught by it.
 */
@Catch(JobValidationError)
export class JobValidationFilter implements ExceptionFilter<JobValidationError> {
  catch(error: JobValidationError, host: ArgumentsHost): void {
    const body: JobValidationErrorBody = {
      statusCode: HttpStatus.BAD_REQUEST,
      error: 'Bad Request',
      message: error.message,
      field: error.field,
    };
    const response = host.switchToHttp().getResponse<HttpResponse>();
    if (typeof response.status === 'function') response.status(body.statusCode).json(body);
    else response.code?.(body.statusCode).send(body);
  }
}
