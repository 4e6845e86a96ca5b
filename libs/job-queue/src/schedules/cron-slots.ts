import { Cron } from 'croner';
import type { CatchUpPolicy } from './schedule-definition';

/**
 * Missed slots walked one by one at most per catch-up (croner takes about half a millisecond per slot); past it,
 * the plan steps back from the end of the outage to the missed slots it still fires (as many as the catch-up keeps),
 * and estimates the count of those in between from the period.
 */
const MAX_WALKED = 200;

/** How far back from a slot the zone's offset is read to find a fall-back shift (longer than any zone's shift). */
const SHIFT_PROBE_MS = 3 * 3_600_000;

/**
 * The slots of a cron expression in a time zone, as instants (ms since the epoch), computed by croner. Each slot is
 * computed strictly after the previous instant, so slots only ever increase: no instant twice. Daylight saving, as
 * croner implements it (OCPS): a wall time that does not exist (spring forward) fires once at the first instant
 * after the gap (a daily 02:30 in Europe/Paris runs at 03:00 that day), for fixed times given as numbers, lists or
 * ranges (croner's `fixedTimeRule: 'no-wildcard'`). A wall time that exists twice (fall back) fires once, at its
 * first occurrence, for an expression with a fixed hour (a number, a list or a range), even with a stepped minute,
 * which croner would fire twice: the second occurrence is left out here. An expression whose
 * hour is a wildcard or a step follows real time and fires in both occurrences of the repeated hour, as it fires
 * each real hour.
 */
export class CronSlots {
  private readonly cron: Cron;
  /** The zone's wall clock, for an expression with a fixed hour; undefined when the hour follows real time. */
  private readonly wallClock?: Intl.DateTimeFormat;

  constructor(expression: string, timezone: string) {
    // `no-wildcard`: a list or a range of fixed times (`0,30 2 * * *`) is a fixed time too, as in Vixie cron: in a
    // spring-forward gap it fires once after the gap (croner's default, single values only, would skip it that day).
    this.cron = new Cron(expression, { timezone, paused: true, mode: '5-or-6-parts', fixedTimeRule: 'no-wildcard' });
    if (!hourFollowsRealTime(expression)) {
      this.wallClock = new Intl.DateTimeFormat('en-US', {
        timeZone: timezone,
        hourCycle: 'h23',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
        second: 'numeric',
      });
    }
  }

  /** The first slot strictly after `afterMs`; null when the expression has no later slot. */
  next(afterMs: number): number | null {
    let slot = this.cron.nextRun(new Date(afterMs))?.getTime() ?? null;
    while (slot !== null && this.repeatsWallTime(slot)) slot = this.cron.nextRun(new Date(slot))?.getTime() ?? null;
    return slot;
  }

  /**
   * Whether the wall time of `ms` already occurred one shift earlier, in the first pass of an hour repeated at fall
   * back (always false when the hour follows real time).
   */
  private repeatsWallTime(ms: number): boolean {
    if (!this.wallClock) return false;
    const shift = this.offset(ms - SHIFT_PROBE_MS) - this.offset(ms);
    return shift > 0 && this.wall(ms - shift) === this.wall(ms);
  }

  /** The zone's offset from UTC at `ms`, in ms. */
  private offset(ms: number): number {
    return this.wall(ms) - Math.floor(ms / 1_000) * 1_000;
  }

  /** The wall time of `ms` in the zone, to the second, as if it were UTC (ms since the epoch). */
  private wall(ms: number): number {
    const part: Record<string, number> = {};
    for (const { type, value } of this.wallClock!.formatToParts(ms)) part[type] = Number(value);
    return Date.UTC(part.year, part.month - 1, part.day, part.hour, part.minute, part.second);
  }
}

/** Whether the hour field is a wildcard or a step (`*`, `?`, `1-23/2`, every n hours; `@hourly`): no fixed hours. */
function hourFollowsRealTime(expression: string): boolean {
  const fields = expression.trim().split(/\s+/);
  if (fields.length === 1) return fields[0].toLowerCase() === '@hourly';
  const hour = fields.length === 6 ? fields[2] : fields[1];
  return /[*?/]/.test(hour);
}

export interface SlotPlan {
  /** Slots to create jobs for, ascending. */
  fire: number[];
  /** Slots passed without a job because they were missed (the catch-up policy left them out). */
  missed: number;
  /** Of `fire`, how many (the first ones) are missed slots the catch-up policy still fires, late. */
  late: number;
  /** Slots passed without a job because overlap `skip` fires one slot at most, the latest, of those due at once. */
  skipped: number;
  /** The slot `last_slot` moves to: the last slot considered; null when nothing is due yet. */
  newLast: number | null;
}

/**
 * Which slots after `lastSlot` to fire now, on the database's clock `now`. Slots up to `now + leadMs` are due (a
 * job may be created ahead of its slot; it waits in the table until it is due). A due slot more than `graceMs` in
 * the past was missed: the catch-up policy decides which missed slots still fire (none, the latest, or the latest N).
 * With overlap `skip` only the latest of those fires: the jobs of one firing are all due at once, so two of them
 * would run at the same time, which is what `skip` rules out (the firing's check for a live job comes before them).
 */
export function planSlots(p: {
  slots: CronSlots;
  lastSlot: number;
  now: number;
  leadMs: number;
  graceMs: number;
  catchUp: CatchUpPolicy;
  overlap?: 'allow' | 'skip';
}): SlotPlan {
  const horizon = p.now + p.leadMs;
  const missedBefore = p.now - p.graceMs;
  const keepMissed = p.catchUp.policy === 'skip' ? 0 : p.catchUp.policy === 'latest' ? 1 : p.catchUp.limit;
  const kept: number[] = [];
  const onTime: number[] = [];
  let missed = 0;
  let newLast: number | null = null;
  let walked = 0;
  for (let slot = p.slots.next(p.lastSlot); slot !== null && slot <= horizon; slot = p.slots.next(slot)) {
    newLast = slot;
    if (slot >= missedBefore) {
      onTime.push(slot);
      continue;
    }
    missed += 1;
    if (keepMissed > 0) {
      kept.push(slot);
      if (kept.length > keepMissed) kept.shift();
    }
    if (++walked === MAX_WALKED) {
      // A long outage of a frequent schedule: jump to the last missed slots instead of walking every one.
      const tail = lastSlotsBefore(p.slots, missedBefore, slot, Math.max(1, keepMissed));
      if (tail.slots.length > 0) {
        const first = tail.slots[0];
        const period = periodAfter(p.slots, slot) ?? first - slot;
        missed += tail.slots.length + (tail.between ?? Math.max(0, Math.round((first - slot) / period) - 1));
        if (keepMissed > 0) {
          kept.push(...tail.slots);
          kept.splice(0, Math.max(0, kept.length - keepMissed));
        }
        slot = tail.slots[tail.slots.length - 1];
        newLast = slot;
      }
    }
  }
  const fire = [...kept, ...onTime];
  if (p.overlap === 'skip' && fire.length > 1) {
    const late = onTime.length === 0 ? 1 : 0;
    return { fire: fire.slice(-1), missed: missed - kept.length, late, skipped: fire.length - 1, newLast };
  }
  return { fire, missed: missed - kept.length, late: kept.length, skipped: 0, newLast };
}

/**
 * The last `count` slots before `beforeMs` and after `floor`, found by stepping back from `beforeMs` in widening
 * windows, each slot walked once; `between`: how many slots lie between `floor` and the first of them, when the
 * windows reached `floor` (null when not counted).
 */
function lastSlotsBefore(
  slots: CronSlots,
  beforeMs: number,
  floor: number,
  count: number,
): { slots: number[]; between: number | null } {
  let found: number[] = [];
  // `found` holds every slot in (covered, beforeMs).
  let covered = beforeMs;
  for (let window = 1_000; window < 400 * 86_400_000 && covered > floor;) {
    const from = Math.max(floor, beforeMs - window);
    const part: number[] = [];
    for (let s = slots.next(from); s !== null && s <= covered && s < beforeMs; s = slots.next(s)) part.push(s);
    found = part.concat(found);
    covered = from;
    if (found.length >= count) break;
    // Widen to about what should hold `count` slots at the density seen so far (each slot costs croner ~0.5 ms).
    window = found.length === 0 ? window * 4 : Math.max(window * 2, Math.ceil((window * count * 1.25) / found.length));
  }
  const last = found.slice(-count);
  return { slots: last, between: covered === floor ? found.length - last.length : null };
}

/** The period around a slot (the gap to the next slot), for the lead time and the health check; null if none. */
export function periodAfter(slots: CronSlots, slot: number): number | null {
  const next = slots.next(slot);
  return next === null ? null : next - slot;
}
