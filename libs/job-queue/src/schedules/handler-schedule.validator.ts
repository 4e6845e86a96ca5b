import { JobQueueConfigError, JobValidationError } from '../errors/job-queue.errors';
import { validateSchedule } from './schedule-definition';
import type { ScheduleOptions } from './schedule-options.interface';

/** A `schedule` on `@JobHandler` is checked at start: a bad cron or zone stops the app, naming the handler. */
export function validateHandlerSchedule(type: string, schedule: ScheduleOptions | undefined, where: string): void {
  if (schedule === undefined) return;
  try {
    validateSchedule({ ...schedule, name: type, type }, Number.MAX_SAFE_INTEGER);
  } catch (error) {
    if (!(error instanceof JobValidationError)) throw error;
    throw new JobQueueConfigError(`${where} schedule.${error.field}`, `@JobHandler on ${where}: ${error.message}`);
  }
}
