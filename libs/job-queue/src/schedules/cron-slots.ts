import { Cron } from 'croner';
import type { CatchUpPolicy } from './schedule-definition';

/**
 * Missed slots walked one by one at most per catch-up (croner takes about half a millisecond per slot); past it,
 * the plan jumps to the last missed slots and estimates the count of those in between from the period.
 */
const MAX_WALKED = 200;

/**
 * The slots of a cron expression in a time zone, as instants (ms since the epoch), computed by croner. Each slot is
 * computed strictly after the previous instant, so slots only ever increase: no instant twice. Daylight saving, as
 * croner implements it (OCPS): a wall time that does not exist (spring forward) fires once at the first instant
 * after the gap (a daily 02:30 in Europe/Paris runs at 03:00 that day); a wall time that exists twice (fall back)
 * fires once, at its first occurrence, for an expression with a fixed hour; an expression whose hour is a wildcard
 * or a step follows real time and fires in both occurrences of the repeated hour, as it fires each real hour.
 */
export class CronSlots {
  private readonly cron: Cron;

  constructor(expression: string, timezone: string) {
    this.cron = new Cron(expression, { timezone, paused: true, mode: '5-or-6-parts' });
  }

  /** The first slot strictly after `afterMs`; null when the expression has no later slot. */
  next(afterMs: number): number | null {
    return this.cron.nextRun(new Date(afterMs))?.getTime() ?? null;
  }
}

export interface SlotPlan {
  /** Slots to create jobs for, ascending. */
  fire: number[];
  /** Slots passed without a job because they were missed (the catch-up policy left them out). */
  missed: number;
  /** Of `fire`, how many (the first ones) are missed slots the catch-up policy still fires, late. */
  late: number;
  /** The slot `last_slot` moves to: the last slot considered; null when nothing is due yet. */
  newLast: number | null;
}

/**
 * Which slots after `lastSlot` to fire now, on the database's clock `now`. Slots up to `now + leadMs` are due (a
 * job may be created ahead of its slot; it waits in the table until it is due). A due slot more than `graceMs` in
 * the past was missed: the catch-up policy decides which missed slots still fire (none, the latest, or the latest N).
 */
export function planSlots(p: {
  slots: CronSlots;
  lastSlot: number;
  now: number;
  leadMs: number;
  graceMs: number;
  catchUp: CatchUpPolicy;
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
      const resumeAt = lastSlotBefore(p.slots, missedBefore, slot);
      if (resumeAt > slot) {
        const period = periodAfter(p.slots, slot) ?? resumeAt - slot;
        missed += Math.max(1, Math.round((resumeAt - slot) / period));
        kept.length = 0;
        if (keepMissed > 0) kept.push(resumeAt);
        slot = resumeAt;
        newLast = slot;
      }
    }
  }
  return { fire: [...kept, ...onTime], missed: missed - kept.length, late: kept.length, newLast };
}

/** The last slot before `beforeMs`, found by stepping back from it in widening windows (never before `floor`). */
function lastSlotBefore(slots: CronSlots, beforeMs: number, floor: number): number {
  for (let window = 1_000; window < 400 * 86_400_000; window *= 4) {
    const from = Math.max(floor, beforeMs - window);
    let last: number | null = null;
    for (let s = slots.next(from); s !== null && s < beforeMs; s = slots.next(s)) last = s;
    if (last !== null) return last;
    if (from === floor) break;
  }
  return floor;
}

/** The period around a slot (the gap to the next slot), for the lead time and the health check; null if none. */
export function periodAfter(slots: CronSlots, slot: number): number | null {
  const next = slots.next(slot);
  return next === null ? null : next - slot;
}
