import {
  Inject,
  Injectable,
  Logger,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { JobHandlerRegistry } from '../discovery/job-handler.registry';
import { JOB_QUEUE_OPTIONS } from '../job-queue.constants';
import type { ResolvedJobQueueOptions } from '../interfaces/job-queue-options.interface';
import { RecurringTask } from '../maintenance/recurring-task';
import { CronSlots, periodAfter, planSlots } from './cron-slots';
import { parseCatchUp, validateSchedule } from './schedule-definition';
import { ScheduleMetrics } from './schedule.metrics';
import { ScheduleRepository, type ScheduleRow } from './schedule.repository';

/** Longest a slot timer is set for: the refresh re-arms it anyway, and Node's timers stop at 2^31 - 1 ms. */
const MAX_TIMER_MS = 60_000;
/** A timer may fire a little before its time by the database clock: slots this close count as due. */
const TIMER_SLACK_MS = 2;
/** Back-off after a failed fire; the refresh also re-arms every schedule. */
const RETRY_AFTER_ERROR_MS = 1_000;

interface Entry {
  row: ScheduleRow;
  slots: CronSlots;
  timer?: NodeJS.Timeout;
  firing?: Promise<void>;
}

/**
 * Fires schedules, on every instance, with no leader: each instance keeps a timer per schedule for its next slot
 * and, when it fires, creates the slot's job in the statement that moves the schedule's `last_slot` (a
 * compare-and-set, see `fire-schedule.sql.ts`). Of the instances that fire one slot, exactly one creates its job;
 * while any instance runs, slots keep firing. Jobs are created up to `scheduleLeadMs` ahead of their slot (at most
 * half the period; never with overlap `skip`) and are due at the slot, so workers start them on time.
 * Times are the database's: the instance keeps the offset of its clock to the database's from every read.
 * At start it writes the schedules declared on handlers (see `sync-code-schedule`).
 */
@Injectable()
export class ScheduleTicker implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('JobQueue');
  private readonly entries = new Map<string, Entry>();
  private readonly refreshTask: RecurringTask;
  /** Database clock minus this process's clock (ms). */
  private offsetMs = 0;
  private stopped = true;
  private codeSynced = false;

  constructor(
    @Inject(JOB_QUEUE_OPTIONS) private readonly options: ResolvedJobQueueOptions,
    private readonly repository: ScheduleRepository,
    private readonly registry: JobHandlerRegistry,
    private readonly metrics: ScheduleMetrics,
  ) {
    this.refreshTask = new RecurringTask(
      `job-queue:${options.schema}:schedules`,
      options.scheduleRefreshIntervalMs,
      () => this.refresh(),
    );
  }

  onApplicationBootstrap(): void {
    this.stopped = false;
    this.refreshTask.start();
    void this.refreshTask.runOnce();
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    await this.refreshTask.stop();
    const firing = [...this.entries.values()].flatMap((e) => (e.firing ? [e.firing] : []));
    for (const entry of this.entries.values()) clearTimeout(entry.timer);
    this.entries.clear();
    await Promise.all(firing);
  }

  /** The database's now, by this process's clock and the last offset read. */
  dbNow(): number {
    return Date.now() + this.offsetMs;
  }

  /** Re-reads every schedule now (the service calls it after a change, so this instance acts on it at once). */
  async refreshNow(): Promise<void> {
    // A refresh under way may have read before the change: wait for it, then read again.
    await this.refreshTask.runOnce();
    await this.refreshTask.runOnce();
  }

  private async refresh(): Promise<void> {
    if (this.stopped) return;
    if (!this.codeSynced) await this.syncCode();
    const sent = Date.now();
    const rows = await this.repository.list();
    if (rows.length > 0) this.offsetMs = rows[0].now_ms - (sent + Date.now()) / 2;
    const seen = new Set<string>();
    for (const row of rows) {
      seen.add(row.name);
      this.update(row);
    }
    for (const [name, entry] of this.entries) {
      if (seen.has(name)) continue;
      clearTimeout(entry.timer);
      this.removed(name);
    }
  }

  /** The schedule is gone from the table (removed here, on another instance, or by hand). */
  private removed(name: string): void {
    this.entries.delete(name);
    this.metrics.forget(name);
  }

  /** Writes the schedules declared on handlers; the statement decides whether this code's definition wins. */
  private async syncCode(): Promise<void> {
    for (const handler of this.registry.all()) {
      const schedule = handler.options.schedule;
      if (!schedule) continue;
      const def = validateSchedule(
        { ...schedule, name: handler.type, type: handler.type },
        this.options.maxPayloadBytes,
      );
      const written = await this.repository.syncCode(def);
      if (written) this.logger.log(`Schedule ${def.name} ${written.created ? 'created' : 'updated'} from code`);
    }
    this.codeSynced = true;
  }

  /** Takes a row as read; re-arms its timer when anything that decides the next slot changed. */
  private update(row: ScheduleRow): void {
    const entry = this.entries.get(row.name);
    if (entry?.firing) return; // the fire under way re-arms from its own outcome
    if (
      entry &&
      entry.row.definition_hash === row.definition_hash &&
      entry.row.last_slot_ms === row.last_slot_ms &&
      entry.row.paused === row.paused &&
      entry.timer
    ) {
      entry.row = row;
      return;
    }
    if (entry) clearTimeout(entry.timer);
    let slots = entry?.row.definition_hash === row.definition_hash ? entry.slots : undefined;
    try {
      slots ??= new CronSlots(row.cron, row.timezone);
    } catch (error) {
      // Written by a newer release or by hand: this instance cannot read it, others may.
      this.logger.warn(`Schedule ${row.name}: cannot compute its slots here: ${(error as Error).message}`);
      this.entries.delete(row.name);
      return;
    }
    const next: Entry = { row, slots };
    this.entries.set(row.name, next);
    this.arm(next);
  }

  private leadMs(entry: Entry, slot: number): number {
    if (entry.row.overlap === 'skip') return 0;
    const period = periodAfter(entry.slots, slot);
    return Math.min(this.options.scheduleLeadMs, period === null ? 0 : Math.floor(period / 2));
  }

  private arm(entry: Entry, delayMs?: number): void {
    clearTimeout(entry.timer);
    entry.timer = undefined;
    if (this.stopped || entry.row.paused) return;
    let wait = delayMs;
    if (wait === undefined) {
      const slot = entry.slots.next(entry.row.last_slot_ms ?? entry.row.now_ms);
      if (slot === null) return;
      wait = slot - this.leadMs(entry, slot) - this.dbNow();
    }
    entry.timer = setTimeout(() => this.fire(entry), Math.min(MAX_TIMER_MS, Math.max(0, wait)));
  }

  private fire(entry: Entry): void {
    entry.timer = undefined;
    if (this.stopped || this.entries.get(entry.row.name) !== entry) return;
    entry.firing = this.fireOnce(entry)
      .catch((error) => {
        this.logger.warn(`Schedule ${entry.row.name}: firing failed, trying again: ${(error as Error).message}`);
        this.arm(entry, RETRY_AFTER_ERROR_MS);
      })
      .finally(() => (entry.firing = undefined));
  }

  private async fireOnce(entry: Entry): Promise<void> {
    const { row } = entry;
    const now = this.dbNow();
    const lastSlot = row.last_slot_ms ?? row.now_ms;
    const first = entry.slots.next(lastSlot);
    const plan = planSlots({
      slots: entry.slots,
      lastSlot,
      now,
      leadMs: first === null ? 0 : this.leadMs(entry, first) + TIMER_SLACK_MS,
      graceMs: this.options.scheduleMisfireGraceMs,
      catchUp: parseCatchUp(catchUpOf(row)),
      overlap: row.overlap,
    });
    if (plan.newLast === null) return this.arm(entry);
    const sent = Date.now();
    const result = await this.repository.fire({
      name: row.name,
      expectedLastSlotMs: row.last_slot_ms,
      newLastSlotMs: plan.newLast,
      slotsMs: plan.fire,
      definitionHash: row.definition_hash,
      defaultMaxAttempts: this.registry.get(row.type)?.options.maxAttempts ?? this.options.maxAttempts,
    });
    this.offsetMs = result.nowMs - (sent + Date.now()) / 2;
    if (this.stopped) return;
    // Removed while this fire was on its way: its series are gone, and counting would bring them back.
    if (this.entries.get(row.name) !== entry) return;
    if (!result.won) {
      // Another instance fired these slots, or the schedule changed: read where it stands and go on from there.
      const fresh = await this.repository.find(row.name);
      if (!fresh) return this.removed(row.name);
      entry.row = fresh;
      if (fresh.definition_hash !== row.definition_hash) entry.slots = new CronSlots(fresh.cron, fresh.timezone);
      // Nothing moved (not another instance's fire, nor a change): firing again at once would spin. Wait instead.
      const moved =
        fresh.last_slot_ms !== row.last_slot_ms ||
        fresh.definition_hash !== row.definition_hash ||
        fresh.paused !== row.paused;
      return moved ? this.arm(entry) : this.arm(entry, RETRY_AFTER_ERROR_MS);
    }
    this.metrics.slots(row.name, {
      fired: result.created,
      skipped: plan.skipped + plan.fire.length - result.created,
      missed: plan.missed,
    });
    if (plan.missed > 0 || plan.late > 0) {
      this.logger.warn(`Schedule ${row.name}: missed slots: ${plan.missed} passed, ${plan.late} fired late (catch-up)`);
    }
    entry.row = { ...row, last_slot_ms: plan.newLast };
    this.arm(entry);
  }
}

function catchUpOf(row: ScheduleRow) {
  return row.catch_up === 'backfill' ? row.backfill_limit : row.catch_up;
}
