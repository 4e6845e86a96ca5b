import { Inject, Injectable } from '@nestjs/common';
import { JOB_QUEUE_OPTIONS } from '../job-queue.constants';
import type { ResolvedJobQueueOptions } from '../interfaces/job-queue-options.interface';
import { CronSlots } from './cron-slots';
import { catchUpOf, validateSchedule } from './schedule-definition';
import type { ScheduleInfo, ScheduleInput } from './schedule-options.interface';
import { ScheduleRepository, type ScheduleRow } from './schedule.repository';
import { ScheduleTicker } from './schedule.ticker';
import { JobProducer } from '../producer/job.producer';

/**
 * Manages schedules at run time: `upsert`, `remove`, `list`, `pause`, `resume`, and `trigger` (run once now). Changes are rows in the
 * schedules table, so every instance fires them; this instance re-reads at once, the others within
 * `scheduleRefreshIntervalMs`. A schedule created here is never touched by the start-up sync of schedules
 * declared in code, and a code-declared schedule changed here becomes a run-time one.
 */
@Injectable()
export class JobScheduler {
  /** @internal Nest constructs it; the parameters are the library's internals. */
  constructor(
    @Inject(JOB_QUEUE_OPTIONS) private readonly options: ResolvedJobQueueOptions,
    private readonly repository: ScheduleRepository,
    private readonly ticker: ScheduleTicker,
    private readonly producer: JobProducer,
  ) {}

  /**
   * Creates or replaces a schedule. Invalid input throws a `JobValidationError` naming the field, before anything
   * is written. A changed definition starts from now (nothing is caught up for it); an unchanged one is a no-op.
   */
  async upsert(input: ScheduleInput): Promise<ScheduleInfo & { created: boolean }> {
    const def = validateSchedule(input, this.options.maxPayloadBytes);
    const row = await this.repository.upsert(def);
    if (row.changed) await this.ticker.refreshNow();
    return { ...toInfo(row), created: row.created };
  }

  /** Deletes a schedule, and its job created ahead for a slot still to come; false when there was none. */
  async remove(name: string): Promise<boolean> {
    const removed = await this.repository.remove(name);
    if (removed) await this.ticker.refreshNow();
    return removed;
  }

  async list(): Promise<ScheduleInfo[]> {
    return (await this.repository.list()).map(toInfo);
  }

  async get(name: string): Promise<ScheduleInfo | null> {
    const row = await this.repository.find(name);
    return row ? toInfo(row) : null;
  }

  /**
   * Runs the schedule's job once now, outside its cron (the dashboard's "trigger now"): a job of its type, queue,
   * payload, priority and attempts, which is not a slot (`ctx.scheduledFor` is null) and moves no slot of the
   * schedule. Null when there is no such schedule.
   */
  async trigger(name: string): Promise<{ id: string } | null> {
    const schedule = await this.get(name);
    if (!schedule) return null;
    return this.producer.enqueue(schedule.type, schedule.payload, {
      queue: schedule.queue,
      priority: schedule.priority,
      ...(schedule.maxAttempts === null ? {} : { maxAttempts: schedule.maxAttempts }),
    });
  }

  /** Stops firing (and removes the job created ahead for the next slot); false when there is no such schedule. */
  async pause(name: string): Promise<boolean> {
    return this.setPaused(name, true);
  }

  /** Fires again from the next slot; the slots of the pause are neither caught up nor counted as missed. */
  async resume(name: string): Promise<boolean> {
    return this.setPaused(name, false);
  }

  private async setPaused(name: string, paused: boolean): Promise<boolean> {
    const found = await this.repository.setPaused(name, paused);
    if (found) await this.ticker.refreshNow();
    return found;
  }
}

function toInfo(row: ScheduleRow): ScheduleInfo {
  let nextRunAt: Date | null = null;
  if (!row.paused) {
    try {
      const next = new CronSlots(row.cron, row.timezone).next(row.last_slot_ms ?? row.now_ms);
      nextRunAt = next === null ? null : new Date(next);
    } catch {
      nextRunAt = null;
    }
  }
  return {
    name: row.name,
    cron: row.cron,
    timezone: row.timezone,
    type: row.type,
    queue: row.queue,
    payload: row.payload,
    priority: row.priority,
    maxAttempts: row.max_attempts,
    overlap: row.overlap,
    catchUp: catchUpOf(row.catch_up, row.backfill_limit),
    paused: row.paused,
    source: row.source,
    nextRunAt,
    lastRunAt: row.last_fired_slot_ms === null ? null : new Date(row.last_fired_slot_ms),
  };
}
