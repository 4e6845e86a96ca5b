import { scheduleColumns } from './schedule-columns';
import { statement } from './statement';

/** Every schedule, by name; with the database's now() so that callers plan slots on its clock. A few rows. */
export const listSchedules = statement(
  'list-schedules',
  (t) => `SELECT ${scheduleColumns('s')} FROM ${t.schedules} s ORDER BY s.name`,
);

/** One schedule by name ($1). */
export const findSchedule = statement(
  'find-schedule',
  (t) => `SELECT ${scheduleColumns('s')} FROM ${t.schedules} s WHERE s.name = $1`,
);
