import type { Provider } from '@nestjs/common';
import { JobRepository } from '../job.repository';
import { JobScheduler } from './job.scheduler';
import { DASHBOARD_SCHEDULES } from '../dashboard/dashboard-schedules.interface';
import { ScheduleMetrics } from './schedule.metrics';
import { ScheduleRepository } from './schedule.repository';
import { ScheduleTicker } from './schedule.ticker';

/** The schedule feature's providers, added to the module as one list. */
export const scheduleProviders: Provider[] = [
  {
    provide: ScheduleRepository,
    inject: [JobRepository],
    useFactory: (jobs: JobRepository) => new ScheduleRepository(jobs),
  },
  ScheduleMetrics,
  ScheduleTicker,
  JobScheduler,
  // The dashboard's schedules page reads and triggers the schedules through the scheduler; an app may provide its own.
  { provide: DASHBOARD_SCHEDULES, useExisting: JobScheduler },
];
