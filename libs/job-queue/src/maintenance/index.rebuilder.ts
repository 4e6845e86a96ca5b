import { Inject, Injectable, Logger } from '@nestjs/common';
import { JobRepository, type IndexRebuild, type TableHealth } from '../job.repository';
import { JOB_QUEUE_OPTIONS } from '../job-queue.constants';
import { messages } from '../job-queue.messages';
import type { ResolvedJobQueueOptions } from '../interfaces/job-queue-options.interface';
import { JobQueueMetrics } from '../observability/job-queue.metrics';
import type { QueueTableName } from '../sql/vacuum-table.sql';
import { planIndexRebuild } from './index-bloat';

/**
 * A VACUUM that found this many times `vacuumThreshold` dead tuples ran after the table had churned far beyond what
 * the vacuum lets it in steady state (a long transaction held the horizon, the vacuum was off or denied, a mass
 * delete): the indexes grew for rows that are gone, and a B-tree never gives pages back to the file system.
 */
export const BLOAT_EVENT_FACTOR = 4;
/** How long each rebuild statement waits for a lock or for an older transaction to end; retried at the next check. */
export const REBUILD_LOCK_TIMEOUT_MS = 10_000;
/** A rebuild waits for every older transaction of the database: none starts while one has run for this long. */
export const REBUILD_MAX_HORIZON_AGE_MS = REBUILD_LOCK_TIMEOUT_MS / 2;
/** After a rebuild was refused for lack of privilege, how long an instance waits before it tries again. */
export const REBUILD_DENIED_PAUSE_MS = 600_000;

/**
 * Gives back the space of indexes bloated by a bad day, so that the queue's tables return to their steady size
 * (`REINDEX INDEX CONCURRENTLY`: reads and writes go on meanwhile). A VACUUM empties index pages but never shrinks
 * the index, so after a long transaction held the horizon through a few minutes of churn the indexes stay many
 * times their size for good. The vacuumer tells this rebuilder of each VACUUM it ran; one that found
 * `BLOAT_EVENT_FACTOR × vacuumThreshold` dead tuples or more marks its table. A marked table's indexes are then
 * checked at each vacuum check while no transaction older than `REBUILD_MAX_HORIZON_AGE_MS` is open, and every index
 * well above its freshly built size is rebuilt, under an advisory lock (one instance at a time); invalid leftovers of
 * a failed rebuild are dropped first. The mark goes once a round finds nothing left to do. Steady churn never marks a
 * table, so a healthy queue is never rebuilt.
 */
@Injectable()
export class IndexRebuilder {
  private readonly logger = new Logger('JobQueue');
  private readonly marked = new Set<QueueTableName>();
  private pausedUntil = 0;
  private deniedLogged = false;
  /** The backend running this instance's rebuild, while one runs. */
  private rebuildPid: number | undefined;
  private stopping = false;

  constructor(
    @Inject(JOB_QUEUE_OPTIONS) private readonly options: ResolvedJobQueueOptions,
    private readonly repository: JobRepository,
    private readonly metrics: JobQueueMetrics,
  ) {}

  /**
   * The vacuumer VACUUMed a table; `health` is what it read before. Only a VACUUM that ran with a young horizon
   * removed the dead tuples it found: one that ran while a long transaction held them marks nothing, since the
   * indexes would bloat again behind it (the VACUUM after that transaction ends does).
   */
  vacuumed(health: TableHealth): void {
    if (!this.options.rebuildBloatedIndexes) return;
    if (health.dead_tuples >= BLOAT_EVENT_FACTOR * this.options.vacuumThreshold && horizonYoung(health)) {
      this.marked.add(health.table);
    }
  }

  /** Rebuilds the bloated indexes of the marked tables, if the horizon `health` shows allows it now. */
  async check(health: TableHealth[]): Promise<void> {
    if (this.marked.size === 0 || Date.now() < this.pausedUntil) return;
    if (health[0] && !horizonYoung(health[0])) return;
    for (const table of [...this.marked]) {
      if (this.stopping) return;
      const results = await this.repository
        .rebuildIndexes(
          table,
          planIndexRebuild,
          REBUILD_LOCK_TIMEOUT_MS,
          (pid) => (this.rebuildPid = pid),
          () => this.stopping,
        )
        .finally(() => (this.rebuildPid = undefined));
      if (results === 'busy') continue; // another instance rebuilds this table's indexes now
      for (const result of results) this.record(table, result);
      const finished = results.every((r) => r.outcome === 'rebuilt' || r.outcome === 'dropped');
      if (finished && !this.stopping) this.marked.delete(table);
      const last = results.at(-1)?.outcome;
      if (last === 'cancelled') return;
      if (last === 'denied') return this.denied(table);
    }
  }

  /** Stops (shutdown): no statement starts, the one under way is cancelled; a later round drops what it left. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.rebuildPid !== undefined) await this.repository.cancelBackend(this.rebuildPid).catch(() => undefined);
  }

  /** Allows rebuilds again, after a `stop()` (an app closed and started again in one process). */
  start(): void {
    this.stopping = false;
  }

  private record(table: QueueTableName, result: IndexRebuild): void {
    if (result.outcome === 'cancelled') return;
    this.metrics.indexRebuild(table, result.outcome);
    if (result.outcome === 'rebuilt' || result.outcome === 'dropped') {
      this.logger.log(messages.indexRebuilt(`${this.options.schema}.${result.index}`, result.outcome, result.pages));
    }
  }

  private async denied(table: QueueTableName): Promise<void> {
    this.pausedUntil = Date.now() + REBUILD_DENIED_PAUSE_MS;
    if (!this.deniedLogged) {
      this.logger.warn(
        messages.rebuildDenied(
          `${this.options.schema}.${table}`,
          await this.repository.currentRole(),
          REBUILD_DENIED_PAUSE_MS,
        ),
      );
    }
    this.deniedLogged = true;
  }
}

/** No transaction of the database holding the horizon has run for longer than a rebuild would wait for it. */
function horizonYoung(health: TableHealth): boolean {
  return health.horizon_since_ms === null || health.now_ms - health.horizon_since_ms <= REBUILD_MAX_HORIZON_AGE_MS;
}
