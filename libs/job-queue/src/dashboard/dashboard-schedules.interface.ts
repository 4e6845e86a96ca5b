/**
 * What the dashboard's schedules page needs from whatever keeps the app's schedules: a list, and "run it now".
 * The dashboard does not depend on a scheduler: the app provides this token (for instance `useFactory` over its
 * scheduler service) and the page appears; without it the page says that no schedules are wired.
 */
export const DASHBOARD_SCHEDULES = Symbol('job-queue:dashboard-schedules');

export interface DashboardSchedule {
  name: string;
  cron: string;
  type: string;
  timezone?: string | null;
  paused?: boolean;
  nextRunAt?: Date | string | null;
  lastRunAt?: Date | string | null;
}

export interface DashboardSchedules {
  list(): Promise<DashboardSchedule[]>;
  /**
   * Enqueues the schedule's job now, outside its cron; resolves to the job's id when the scheduler gives one, and
   * to null when there is no such schedule (the dashboard then answers 404).
   */
  trigger(name: string): Promise<string | void | { id: string } | null>;
}
