import { Inject, Injectable, Logger } from '@nestjs/common';
import { JobRepository, type IndexRebuild, type TableHealth } from '../job.repository';
import { JOB_QUEUE_OPTIONS } from '../job-queue.constants';
import { messages } from '../job-queue.messages';
import type { ResolvedJobQueueOptions } from '../interfaces/job-queue-options.interface';
import { JobQueueMetrics } from '../observability/job-queue.metrics';
import type { QueueTableName } from '../sql/vacuum-table.sql';
import { isRebuildLeftover, planIndexRebuild, planLeftoverDrop, type IndexPlan, type IndexSize } from './index-bloat';

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
 * well above its freshly built size is rebuilt, under an advisory lock (one instance at a time). The mark goes once
 * a round finds nothing left to do. Steady churn never marks a table, so a healthy queue is never rebuilt.
 *
 * A rebuild that failed or was cancelled (shutdown cancels it) leaves an invalid `…_ccnew` or `…_ccold` index that
 * PostgreSQL updates at every write. The mark lives in the memory of one instance, which may be the one that
 * stopped, so every check (the first one `vacuumIntervalMs` after start) reads the catalog for such leftovers and
 * drops them under the same lock, whether or not their table is marked.
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

  /**
   * Drops the leftovers of rebuilds that did not finish, then rebuilds the bloated indexes of the marked tables if
   * the horizon `health` shows allows it now.
   */
  async check(health: TableHealth[]): Promise<void> {
    if (!this.options.rebuildBloatedIndexes || Date.now() < this.pausedUntil) return;
    if (!(await this.dropLeftovers())) return;
    if (this.marked.size === 0) return;
    if (health[0] && !horizonYoung(health[0])) return;
    for (const table of [...this.marked]) {
      if (this.stopping) return;
      const results = await this.round(table, planIndexRebuild);
      if (results === 'busy') continue; // another instance rebuilds this table's indexes now
      const finished = results.every((r) => r.outcome === 'rebuilt' || r.outcome === 'dropped');
      if (finished && !this.stopping) this.marked.delete(table);
      if (await this.halted(table, results)) return;
    }
  }

  /**
   * Drops the invalid leftovers of a concurrent rebuild on any of the queue's tables. A `DROP INDEX CONCURRENTLY`
   * waits only for the transactions that use the table, not for the horizon, so no young horizon is needed. A
   * rebuild under way has a `…_ccnew` of its own, invalid until it is done: the read leaves out a table with an index
   * build under way, the lock passes one that another instance rebuilds, and the round drops only what the read
   * found (not a `…_ccnew1` of a rebuild started since). False when the check stops here (shutdown, no privilege).
   */
  private async dropLeftovers(): Promise<boolean> {
    const leftovers = (await this.repository.readInvalidIndexes()).filter((i) => isRebuildLeftover(i.index));
    for (const table of new Set(leftovers.map((i) => i.table))) {
      if (this.stopping) return false;
      const found = new Set(leftovers.filter((i) => i.table === table).map((i) => i.index));
      const results = await this.round(table, (indexes) => planLeftoverDrop(indexes.filter((i) => found.has(i.index))));
      if (results !== 'busy' && (await this.halted(table, results))) return false;
    }
    return !this.stopping;
  }

  /** One round on a table's indexes under the rebuild lock, its outcomes counted and logged. */
  private async round(
    table: QueueTableName,
    plan: (indexes: IndexSize[]) => IndexPlan,
  ): Promise<IndexRebuild[] | 'busy'> {
    const results = await this.repository
      .rebuildIndexes(
        table,
        plan,
        REBUILD_LOCK_TIMEOUT_MS,
        (pid) => (this.rebuildPid = pid),
        () => this.stopping,
      )
      .finally(() => (this.rebuildPid = undefined));
    if (results !== 'busy') for (const result of results) this.record(table, result);
    return results;
  }

  /** The round ended in a way that ends this check too: cancelled (shutdown), or refused for lack of privilege. */
  private async halted(table: QueueTableName, results: IndexRebuild[]): Promise<boolean> {
    const last = results.at(-1)?.outcome;
    if (last === 'denied') await this.denied(table);
    return last === 'cancelled' || last === 'denied';
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
