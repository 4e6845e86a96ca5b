import { CronSlots, periodAfter } from './cron-slots';
import type { ScheduleRow } from './schedule.repository';

export interface LateSchedule {
  name: string;
  /** The first slot not fired yet. */
  dueSince: Date;
  /** How late it is, in periods of the schedule. */
  periods: number;
}

/**
 * Schedules that have not fired for more than `periods` of their periods, by the database clock of the rows' read:
 * the first slot after `last_slot` is that many periods (measured at that slot) in the past. Paused schedules and
 * schedules this code cannot read are not judged. An instance that answers a health check is up, so a late schedule
 * here means the instances are up and still not firing it.
 */
export function findLateSchedules(rows: ScheduleRow[], periods: number): LateSchedule[] {
  const late: LateSchedule[] = [];
  for (const row of rows) {
    if (row.paused || row.last_slot_ms === null) continue;
    let slots: CronSlots;
    try {
      slots = new CronSlots(row.cron, row.timezone);
    } catch {
      continue;
    }
    const due = slots.next(row.last_slot_ms);
    if (due === null) continue;
    const period = periodAfter(slots, due);
    if (period === null || period <= 0) continue;
    const behind = (row.now_ms - due) / period;
    if (behind > periods) late.push({ name: row.name, dueSince: new Date(due), periods: Math.floor(behind) });
  }
  return late;
}
