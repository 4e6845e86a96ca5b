import { CronSlots, planSlots } from './cron-slots';
import { validateSchedule } from './schedule-definition';
import { JobValidationError } from '../errors/job-queue.errors';

const at = (iso: string) => Date.parse(iso);
const iso = (ms: number) => new Date(ms).toISOString();

/** Every slot in [from, to), walked as the ticker walks them: each strictly after the previous one. */
function slotsBetween(slots: CronSlots, from: string, to: string): number[] {
  const out: number[] = [];
  for (let s = slots.next(at(from) - 1); s !== null && s < at(to); s = slots.next(s)) out.push(s);
  return out;
}

/** The wall-clock time of an instant in a zone, as `HH:MM:SS`. */
function wall(ms: number, timeZone: string): string {
  return new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', minute: '2-digit', second: '2-digit' }).format(
    ms,
  );
}

describe('CronSlots across daylight saving changes', () => {
  it('Europe/Paris spring forward: an hourly schedule has 23 slots that day, none in the skipped hour, none twice', () => {
    const slots = slotsBetween(
      new CronSlots('0 * * * *', 'Europe/Paris'),
      '2026-03-28T23:00:00Z',
      '2026-03-29T22:00:00Z',
    );
    expect(slots).toHaveLength(23);
    expect(new Set(slots).size).toBe(slots.length);
    expect(slots.map((s) => wall(s, 'Europe/Paris'))).not.toContain('02:00:00');
    for (let i = 1; i < slots.length; i++) expect(slots[i] - slots[i - 1]).toBe(3_600_000);
  });

  it('Europe/Paris spring forward: a daily 02:30 (a time that does not exist that day) fires once, at 03:00', () => {
    const slots = slotsBetween(
      new CronSlots('30 2 * * *', 'Europe/Paris'),
      '2026-03-27T00:00:00Z',
      '2026-03-31T00:00:00Z',
    );
    expect(slots.map(iso)).toEqual([
      '2026-03-27T01:30:00.000Z',
      '2026-03-28T01:30:00.000Z',
      '2026-03-29T01:00:00.000Z', // 03:00 CEST, the first instant after the gap
      '2026-03-30T00:30:00.000Z',
    ]);
  });

  it('Europe/Paris spring forward: fixed times given as a list or a range in the gap fire once, at 03:00', () => {
    const day = (expression: string) =>
      slotsBetween(new CronSlots(expression, 'Europe/Paris'), '2026-03-28T23:00:00Z', '2026-03-29T22:00:00Z').map(iso);
    // 02:00 and 02:30 do not exist that day: both are the first instant after the gap, which fires once.
    expect(day('0,30 2 * * *')).toEqual(['2026-03-29T01:00:00.000Z']);
    // 02:30 does not exist, 03:30 does.
    expect(day('30 2-3 * * *')).toEqual(['2026-03-29T01:00:00.000Z', '2026-03-29T01:30:00.000Z']);
    expect(day('0 30 2,14 * * *')).toEqual(['2026-03-29T01:00:00.000Z', '2026-03-29T12:30:00.000Z']);
  });

  it('Europe/Paris fall back: an hourly schedule has 25 slots that day, each real hour once', () => {
    const slots = slotsBetween(
      new CronSlots('0 * * * *', 'Europe/Paris'),
      '2026-10-24T22:00:00Z',
      '2026-10-25T23:00:00Z',
    );
    expect(slots).toHaveLength(25);
    expect(new Set(slots).size).toBe(25);
    for (let i = 1; i < slots.length; i++) expect(slots[i] - slots[i - 1]).toBe(3_600_000);
  });

  it('America/New_York fall back: a daily 01:30 (a time that exists twice) fires once, at its first occurrence', () => {
    const slots = slotsBetween(
      new CronSlots('30 1 * * *', 'America/New_York'),
      '2026-10-31T00:00:00Z',
      '2026-11-03T00:00:00Z',
    );
    expect(slots.map(iso)).toEqual([
      '2026-10-31T05:30:00.000Z',
      '2026-11-01T05:30:00.000Z', // 01:30 EDT; 01:30 EST an hour later is not a second slot
      '2026-11-02T06:30:00.000Z',
    ]);
  });

  it.each([
    ['30 1,13 * * *', ['2024-11-03T05:30:00.000Z', '2024-11-03T18:30:00.000Z']],
    ['0,30 1 * * *', ['2024-11-03T05:00:00.000Z', '2024-11-03T05:30:00.000Z']],
    ['30 0-1 * * *', ['2024-11-03T04:30:00.000Z', '2024-11-03T05:30:00.000Z']],
    ['*/20 1 * * *', ['2024-11-03T05:00:00.000Z', '2024-11-03T05:20:00.000Z', '2024-11-03T05:40:00.000Z']],
    ['0 0,30 1 * * *', ['2024-11-03T05:00:00.000Z', '2024-11-03T05:30:00.000Z']],
  ])(
    'America/New_York fall back: %s, a fixed hour given as a list, a range or several minutes, fires once',
    (expression, expected) => {
      const slots = slotsBetween(
        new CronSlots(expression, 'America/New_York'),
        '2024-11-03T04:00:00Z', // 00:00 EDT
        '2024-11-04T04:00:00Z',
      );
      expect(slots.map(iso)).toEqual(expected);
    },
  );

  it('Europe/Berlin fall back: 30 2,14 fires 02:30 CEST once, not again at 02:30 CET', () => {
    const slots = slotsBetween(
      new CronSlots('30 2,14 * * *', 'Europe/Berlin'),
      '2026-10-24T22:00:00Z',
      '2026-10-25T23:00:00Z',
    );
    expect(slots.map(iso)).toEqual(['2026-10-25T00:30:00.000Z', '2026-10-25T13:30:00.000Z']);
  });

  it('America/New_York fall back: an hour given as a step follows real time, each repeated hour twice', () => {
    const slots = slotsBetween(
      new CronSlots('30 */1 * * *', 'America/New_York'),
      '2024-11-03T04:00:00Z',
      '2024-11-04T05:00:00Z',
    );
    expect(slots).toHaveLength(25);
    expect(slots.filter((s) => wall(s, 'America/New_York') === '01:30:00')).toHaveLength(2);
  });

  it('America/New_York spring forward: every second of the day that exists is a slot, once', () => {
    const slots = slotsBetween(
      new CronSlots('* * * * * *', 'America/New_York'),
      '2026-03-08T06:59:00Z', // 01:59 EST
      '2026-03-08T07:01:00Z', // 03:01 EDT
    );
    expect(slots).toHaveLength(120);
    for (let i = 1; i < slots.length; i++) expect(slots[i] - slots[i - 1]).toBe(1_000);
    expect(wall(slots[59], 'America/New_York')).toBe('01:59:59');
    expect(wall(slots[60], 'America/New_York')).toBe('03:00:00');
  });

  it('a slot matches the expression in the zone, whatever the process zone', () => {
    const [slot] = slotsBetween(
      new CronSlots('0 3 * * *', 'Asia/Tokyo'),
      '2026-06-01T00:00:00Z',
      '2026-06-02T00:00:00Z',
    );
    expect(iso(slot)).toBe('2026-06-01T18:00:00.000Z');
  });
});

describe('planSlots', () => {
  const everySecond = new CronSlots('* * * * * *', 'UTC');
  const base = at('2026-01-01T00:00:00Z');

  it('fires the slots up to now + lead, ahead of time, and moves last_slot to the last one', () => {
    const plan = planSlots({
      slots: everySecond,
      lastSlot: base,
      now: base + 600,
      leadMs: 500,
      graceMs: 1_000,
      catchUp: { policy: 'skip' },
    });
    expect(plan).toEqual({ fire: [base + 1_000], missed: 0, late: 0, skipped: 0, newLast: base + 1_000 });
  });

  it('nothing due yet: nothing fired, last_slot stays', () => {
    const plan = planSlots({
      slots: everySecond,
      lastSlot: base,
      now: base + 100,
      leadMs: 500,
      graceMs: 1_000,
      catchUp: { policy: 'latest' },
    });
    expect(plan).toEqual({ fire: [], missed: 0, late: 0, skipped: 0, newLast: null });
  });

  const outage = (catchUp: Parameters<typeof planSlots>[0]['catchUp']) =>
    planSlots({ slots: everySecond, lastSlot: base, now: base + 10_200, leadMs: 0, graceMs: 1_000, catchUp });

  it('after an outage, skip fires only the slots within the grace', () => {
    // slots base+1s … base+10s; missed: those before now - grace (base+9.2s): 1…9 s
    expect(outage({ policy: 'skip' })).toEqual({
      fire: [base + 10_000],
      missed: 9,
      late: 0,
      skipped: 0,
      newLast: base + 10_000,
    });
  });

  it('after an outage, latest fires the latest missed slot once', () => {
    expect(outage({ policy: 'latest' })).toEqual({
      fire: [base + 9_000, base + 10_000],
      missed: 8,
      late: 1,
      skipped: 0,
      newLast: base + 10_000,
    });
  });

  it('after an outage, backfill N fires the N latest missed slots, oldest first', () => {
    expect(outage({ policy: 'backfill', limit: 3 })).toEqual({
      fire: [base + 7_000, base + 8_000, base + 9_000, base + 10_000],
      missed: 6,
      late: 3,
      skipped: 0,
      newLast: base + 10_000,
    });
  });

  it('a long outage of a frequent schedule jumps ahead instead of walking every slot', () => {
    const plan = planSlots({
      slots: everySecond,
      lastSlot: base,
      now: base + 2 * 86_400_000,
      leadMs: 0,
      graceMs: 1_000,
      catchUp: { policy: 'latest' },
    });
    expect(plan.fire).toEqual([base + 2 * 86_400_000 - 2_000, base + 2 * 86_400_000 - 1_000, base + 2 * 86_400_000]);
    expect(plan.newLast).toBe(base + 2 * 86_400_000);
  });

  it('a long outage: backfill N still fires the N latest missed slots, past the slots walked one by one', () => {
    // A per-second schedule down for 1000 s: slots base+1 s … base+1000 s; those before now - grace are missed.
    const longOutage = (limit: number) =>
      planSlots({
        slots: everySecond,
        lastSlot: base,
        now: base + 1_000_200,
        leadMs: 0,
        graceMs: 1_000,
        catchUp: { policy: 'backfill', limit },
      });
    const five = longOutage(5);
    expect(five.late).toBe(5);
    expect(five.fire).toEqual([995, 996, 997, 998, 999, 1_000].map((s) => base + s * 1_000));
    expect(five.missed + five.late).toBe(999);
    const many = longOutage(500);
    expect(many.late).toBe(500);
    expect(many.fire).toEqual(Array.from({ length: 501 }, (_, i) => base + (500 + i) * 1_000));
    expect(many.missed + many.late).toBe(999);
    expect(many.newLast).toBe(base + 1_000_000);
  });

  it('a long outage of fewer slots than N past the walk: every missed slot fires', () => {
    const plan = planSlots({
      slots: everySecond,
      lastSlot: base,
      now: base + 300_200,
      leadMs: 0,
      graceMs: 1_000,
      catchUp: { policy: 'backfill', limit: 1_000 },
    });
    expect(plan.fire).toEqual(Array.from({ length: 300 }, (_, i) => base + (i + 1) * 1_000));
    expect(plan).toMatchObject({ missed: 0, late: 299, newLast: base + 300_000 });
  });

  it('overlap skip: at most one slot fires at once, the latest; the others are counted as skipped', () => {
    const daily = new CronSlots('0 3 * * *', 'UTC');
    const lastSlot = at('2026-01-01T03:00:00Z');
    const plan = planSlots({
      slots: daily,
      lastSlot,
      now: at('2026-01-06T12:00:00Z'),
      leadMs: 0,
      graceMs: 1_000,
      catchUp: { policy: 'backfill', limit: 3 },
      overlap: 'skip',
    });
    expect(plan).toEqual({
      fire: [at('2026-01-06T03:00:00Z')],
      missed: 2,
      late: 1,
      skipped: 2,
      newLast: at('2026-01-06T03:00:00Z'),
    });
    // The latest missed slot and a slot on time: only the one on time.
    expect(
      planSlots({
        slots: everySecond,
        lastSlot: base,
        now: base + 10_200,
        leadMs: 0,
        graceMs: 1_000,
        catchUp: { policy: 'latest' },
        overlap: 'skip',
      }),
    ).toEqual({ fire: [base + 10_000], missed: 8, late: 0, skipped: 1, newLast: base + 10_000 });
  });
});

describe('validateSchedule', () => {
  const valid = { name: 'report.daily', type: 'report.daily', cron: '0 3 * * *', timezone: 'Europe/Paris' };

  it('accepts 5 and 6 fields, and gives one hash per definition', () => {
    const a = validateSchedule(valid, 1_000);
    const b = validateSchedule({ ...valid, cron: '*/5 * * * * *' }, 1_000);
    expect(a.hash).not.toBe(b.hash);
    expect(validateSchedule(valid, 1_000).hash).toBe(a.hash);
    expect(a.catchUp).toEqual({ policy: 'latest' });
  });

  it.each([
    [{ cron: '61 * * * *' }, 'cron'],
    [{ cron: '* * *' }, 'cron'],
    [{ cron: '* * * * * * *' }, 'cron'],
    [{ timezone: 'Mars/Olympus_Mons' }, 'timezone'],
    [{ name: 'has space' }, 'name'],
    [{ overlap: 'sometimes' }, 'overlap'],
    [{ catchUp: 0 }, 'catchUp'],
    [{ catchUp: 'all' }, 'catchUp'],
    [{ priority: 1.5 }, 'priority'],
  ])('refuses %j, naming %s', (change, field) => {
    let error: unknown;
    try {
      validateSchedule({ ...valid, ...change } as never, 1_000);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(JobValidationError);
    expect((error as JobValidationError).field).toBe(field);
    expect((error as Error).message).toContain(`Invalid schedule ${field}`);
  });

  it('refuses a payload over the limit', () => {
    expect(() => validateSchedule({ ...valid, payload: { text: 'x'.repeat(2_000) } }, 1_000)).toThrow(/payload/);
  });
});
