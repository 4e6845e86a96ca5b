import { Injectable } from '@nestjs/common';
import { JobRepository } from './job.repository';
import type { DeadJobSummary } from './interfaces/job-row.interface';
import { JobExecutor } from './worker/job.executor';
import { JobHandlerRegistry } from './discovery/job-handler.registry';
import { limitsOf, type JobLimits } from './limits/job-limits';
import { limitsView, type JobTypeLimits } from './limits/limits-view';

export interface QueueStats {
  pending: number;
  processing: number;
  dead: number;
  /** Jobs claimed by this instance and not yet finished (running, or having their end written). */
  inFlight: number;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Operator reads and actions: look up a job, list and requeue dead jobs, count the queue. */
@Injectable()
export class JobQueueAdmin {
  /** @internal Nest constructs it; the parameters are the library's internals. */
  constructor(
    private readonly repository: JobRepository,
    private readonly executor: JobExecutor,
    private readonly registry: JobHandlerRegistry,
  ) {}

  /** The live or dead job with its status (`pending`, `processing` or `dead`); null when neither exists. */
  async getJob(id: string): Promise<Record<string, unknown> | null> {
    if (!UUID.test(id)) return null;
    return this.repository.findJob(id);
  }

  async listDeadJobs(limit = 100): Promise<DeadJobSummary[]> {
    return this.repository.listDead(Math.max(1, Math.min(1_000, Math.floor(limit))));
  }

  /** Moves a dead job back to `jobs` under its id with fresh attempts; null when no dead job has that id. */
  async requeueDeadJob(id: string): Promise<string | null> {
    if (!UUID.test(id)) return null;
    return this.repository.requeueDead(id);
  }

  /**
   * The limits of this app's handlers that have any (`globalConcurrency`, `concurrencyPerKey`, `rateLimit`), each
   * with its running jobs across all instances, per type and per key.
   */
  async listLimits(): Promise<JobTypeLimits[]> {
    const limited: Array<{ type: string; limits: JobLimits }> = [];
    for (const handler of this.registry.all()) {
      const limits = limitsOf(handler.options, handler.name);
      if (limits) limited.push({ type: handler.type, limits });
    }
    if (limited.length === 0) return [];
    return limitsView(limited, await this.repository.countRunningLimited(limited.map((l) => l.type)));
  }

  async stats(): Promise<QueueStats> {
    const stats: QueueStats = { pending: 0, processing: 0, dead: 0, inFlight: this.executor.size };
    for (const row of await this.repository.countByStatus()) stats[row.status] += row.count;
    return stats;
  }
}
