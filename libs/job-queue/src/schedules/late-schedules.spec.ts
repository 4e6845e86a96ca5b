import { findLateSchedules } from './late-schedules';
import type { ScheduleRow } from './schedule.repository';

const base = Date.parse('2026-01-01T00:00:00Z');
const row = (over: Partial<ScheduleRow>): ScheduleRow => ({
  name: 'every.minute',
  cron: '* * * * *',
  timezone: 'UTC',
  type: 't',
  queue: 'default',
  payload: {},
  priority: 0,
  max_attempts: null,
  overlap: 'allow',
  catch_up: 'latest',
  backfill_limit: 0,
  paused: false,
  source: 'runtime',
  definition_hash: 'h',
  last_slot_ms: base,
  last_fired_slot_ms: base,
  now_ms: base,
  ...over,
});

describe('findLateSchedules', () => {
  it('reports a schedule whose first unfired slot is more than N periods old', () => {
    // Next slot base+60 s; at base+60 s+2.5 periods it is 2.5 periods late.
    const late = findLateSchedules([row({ now_ms: base + 60_000 + 150_000 })], 2);
    expect(late).toEqual([{ name: 'every.minute', dueSince: new Date(base + 60_000), periods: 2 }]);
  });

  it('does not report one within N periods, a paused one, or one it cannot read', () => {
    expect(findLateSchedules([row({ now_ms: base + 60_000 + 90_000 })], 2)).toEqual([]);
    expect(findLateSchedules([row({ now_ms: base + 3_600_000, paused: true })], 2)).toEqual([]);
    expect(findLateSchedules([row({ now_ms: base + 3_600_000, cron: 'not a cron' })], 2)).toEqual([]);
  });
});
