import { ArgumentsHost, Catch, HttpStatus, type ExceptionFilter } from '@nestjs/common';
import { JobValidationError } from '@app/job-queue';

interface HttpResponse {
  status(code: number): { json(body: unknown): void };
}

/** The library's validation errors are the client's mistake: 400 with the reason and the field. */
@Catch(JobValidationError)
export class JobValidationFilter implements ExceptionFilter {
  catch(error: JobValidationError, host: ArgumentsHost): void {
    host.switchToHttp().getResponse<HttpResponse>().status(HttpStatus.BAD_REQUEST).json({
      statusCode: HttpStatus.BAD_REQUEST,
      error: 'Bad Request',
      message: error.message,
      field: error.field,
    });
  }
}
