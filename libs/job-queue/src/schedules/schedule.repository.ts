import type { QueryResultRow } from 'pg';
import { JobRepository } from '../job.repository';
import { fireSchedule } from '../sql/fire-schedule.sql';
import { findSchedule, listSchedules } from '../sql/list-schedules.sql';
import { removeSchedule, setSchedulePaused } from '../sql/remove-schedule.sql';
import type { Statement, StatementFactory } from '../sql/statement';
import { syncCodeSchedule, upsertSchedule } from '../sql/upsert-schedule.sql';
import type { ScheduleDefinition } from './schedule-definition';

/** A schedule as stored, times in milliseconds since the epoch; `now_ms` is the database's clock at the read. */
export interface ScheduleRow {
  name: string;
  cron: string;
  timezone: string;
  type: string;
  queue: string;
  payload: unknown;
  priority: number;
  max_attempts: number | null;
  overlap: 'allow' | 'skip';
  catch_up: 'skip' | 'latest' | 'backfill';
  backfill_limit: number;
  paused: boolean;
  source: 'code' | 'runtime';
  definition_hash: string;
  last_slot_ms: number | null;
  last_fired_slot_ms: number | null;
  now_ms: number;
}

export interface FireResult {
  /** This call moved `last_slot` (false: another instance did, or the definition or pause state changed). */
  won: boolean;
  /** Jobs created (0 when the slots were passed by the overlap rule). */
  created: number;
  nowMs: number;
}

/**
 * The schedules' statements (Entity+Verb), on the queue's pool and tables. Kept apart from `JobRepository` so that
 * the schedule feature reads as one folder; the statements themselves live with the others under `sql/`.
 */
export class ScheduleRepository {
  private readonly statements = new Map<StatementFactory, Statement>();

  constructor(private readonly jobs: JobRepository) {}

  list(): Promise<ScheduleRow[]> {
    return this.rows<ScheduleRow>(listSchedules, []);
  }

  async find(name: string): Promise<ScheduleRow | null> {
    const [row] = await this.rows<ScheduleRow>(findSchedule, [name]);
    return row ?? null;
  }

  async upsert(def: ScheduleDefinition): Promise<ScheduleRow & { created: boolean; changed: boolean }> {
    const [row] = await this.rows<ScheduleRow & { created: boolean; changed: boolean }>(
      upsertSchedule,
      definitionParams(def, 'runtime'),
    );
    return row;
  }

  /** Writes a code-declared schedule if it is new or newer (see the statement); null when nothing was written. */
  async syncCode(def: ScheduleDefinition): Promise<{ created: boolean } | null> {
    const [row] = await this.rows<{ name: string; created: boolean }>(syncCodeSchedule, definitionParams(def, 'code'));
    return row ?? null;
  }

  async remove(name: string): Promise<boolean> {
    const rows = await this.rows(removeSchedule, [name]);
    return rows.length === 1;
  }

  async setPaused(name: string, paused: boolean): Promise<boolean> {
    const rows = await this.rows(setSchedulePaused, [name, paused]);
    return rows.length === 1;
  }

  async fire(fire: {
    name: string;
    expectedLastSlotMs: number | null;
    newLastSlotMs: number;
    slotsMs: number[];
    definitionHash: string;
    defaultMaxAttempts: number;
  }): Promise<FireResult> {
    const [row] = await this.rows<{ won: number; created: number; now_ms: number }>(fireSchedule, [
      fire.name,
      toDate(fire.expectedLastSlotMs),
      toDate(fire.newLastSlotMs),
      fire.slotsMs.map((ms) => new Date(ms)),
      fire.definitionHash,
      fire.defaultMaxAttempts,
      this.jobs.tables.channel,
    ]);
    return { won: row.won === 1, created: row.created, nowMs: row.now_ms };
  }

  private async rows<T extends QueryResultRow>(factory: StatementFactory, values: unknown[]): Promise<T[]> {
    let prepared = this.statements.get(factory);
    if (!prepared) this.statements.set(factory, (prepared = factory(this.jobs.tables)));
    const result = await this.jobs.pool.query<T>({ name: prepared.name, text: prepared.text, values });
    return result.rows;
  }
}

function toDate(ms: number | null): Date | null {
  return ms === null ? null : new Date(ms);
}

/** The parameters $1…$13 shared by the upsert and the code sync. */
function definitionParams(def: ScheduleDefinition, source: 'code' | 'runtime'): unknown[] {
  return [
    def.name,
    def.cron,
    def.timezone,
    def.type,
    def.queue,
    def.payloadJson,
    def.priority,
    def.maxAttempts,
    def.overlap,
    def.catchUp.policy,
    def.catchUp.policy === 'backfill' ? def.catchUp.limit : 0,
    source,
    def.hash,
  ];
}
