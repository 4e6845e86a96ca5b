import { Inject, Injectable, Logger } from '@nestjs/common';
import { JobRepository, type TableHealth } from '../job.repository';
import { JOB_QUEUE_OPTIONS } from '../job-queue.constants';
import { messages } from '../job-queue.messages';
import type { ResolvedJobQueueOptions } from '../interfaces/job-queue-options.interface';
import { JobQueueMetrics } from '../observability/job-queue.metrics';
import { IndexRebuilder } from './index.rebuilder';
import { RecurringTask } from './recurring-task';

/** After a VACUUM was refused for lack of privilege, how long an instance waits before it tries again. */
export const VACUUM_DENIED_PAUSE_MS = 600_000;

/**
 * Keeps the queue's own tables lean whatever autovacuum does (off, behind, or waiting for its naptime). Every
 * `vacuumIntervalMs` it reads the tables' dead tuples from the statistics views (cheap: no row of the tables is
 * read); a table past `vacuumThreshold` is VACUUMed (with ANALYZE) by whichever instance takes its advisory lock
 * first, the others pass. A VACUUM cannot remove rows that a transaction still open may see: while the same
 * transaction holds the horizon as at the last VACUUM, another one would remove nothing, so it waits for that
 * transaction to end (the next check after it ends vacuums). Without the privilege to vacuum, it logs once and
 * stops trying for `VACUUM_DENIED_PAUSE_MS`. After the VACUUMs of a check, the `IndexRebuilder` gives back the
 * space of indexes that a bad day bloated.
 */
@Injectable()
export class TableVacuumer {
  private readonly logger = new Logger('JobQueue');
  private readonly task: RecurringTask | undefined;
  /** Database time (ms) at which each table's last VACUUM by this instance began. */
  private readonly lastVacuumAt = new Map<string, number>();
  private pausedUntil = 0;
  private deniedLogged = false;
  /** The backend running this instance's VACUUM, while one runs. */
  private vacuumPid: number | undefined;
  private stopping = false;

  constructor(
    @Inject(JOB_QUEUE_OPTIONS) private readonly options: ResolvedJobQueueOptions,
    private readonly repository: JobRepository,
    private readonly metrics: JobQueueMetrics,
    private readonly rebuilder: IndexRebuilder,
  ) {
    if (options.vacuumThreshold > 0) {
      this.task = new RecurringTask(`job-queue:${options.schema}:vacuum`, options.vacuumIntervalMs, () => this.check());
    }
  }

  start(): void {
    this.stopping = false;
    this.rebuilder.start();
    this.task?.start();
  }

  /**
   * Stops the checks; a VACUUM or an index rebuild under way is cancelled (a large table's may take minutes), so that
   * shutdown waits for nothing but that cancellation.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    const running = this.task?.stop() ?? Promise.resolve();
    if (this.vacuumPid !== undefined) await this.repository.cancelBackend(this.vacuumPid).catch(() => undefined);
    await this.rebuilder.stop();
    await running;
  }

  runOnce(): Promise<void> {
    return this.task?.runOnce() ?? Promise.resolve();
  }

  private async check(): Promise<void> {
    if (Date.now() < this.pausedUntil) return;
    const tables = await this.repository.readTableHealth();
    for (const table of tables) {
      if (this.stopping) return;
      if (table.dead_tuples < this.options.vacuumThreshold) continue;
      if (this.horizonUnchanged(table)) {
        this.metrics.vacuum(table.table, 'horizon_held');
        continue;
      }
      const outcome = await this.repository
        .vacuumTable(table.table, (pid) => (this.vacuumPid = pid))
        .finally(() => (this.vacuumPid = undefined));
      if (outcome === 'cancelled') return;
      this.metrics.vacuum(table.table, outcome);
      if (outcome === 'vacuumed') {
        this.lastVacuumAt.set(table.table, table.now_ms);
        this.rebuilder.vacuumed(table);
        this.deniedLogged = false;
      } else if (outcome === 'denied') {
        this.pausedUntil = Date.now() + VACUUM_DENIED_PAUSE_MS;
        if (!this.deniedLogged)
          this.logger.warn(
            messages.vacuumDenied(
              `${this.options.schema}.${table.table}`,
              await this.repository.currentRole(),
              VACUUM_DENIED_PAUSE_MS,
            ),
          );
        this.deniedLogged = true;
        return;
      }
    }
    if (!this.stopping) await this.rebuilder.check(tables);
  }

  /** The transaction holding the horizon now already held it when this table was last vacuumed. */
  private horizonUnchanged(table: TableHealth): boolean {
    const last = this.lastVacuumAt.get(table.table);
    return last !== undefined && table.horizon_since_ms !== null && table.horizon_since_ms <= last;
  }
}
