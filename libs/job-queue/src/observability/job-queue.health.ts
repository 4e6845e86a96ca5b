import { Inject, Injectable } from '@nestjs/common';
import { JobRepository } from '../job.repository';
import { JOB_QUEUE_OPTIONS } from '../job-queue.constants';
import type { ResolvedJobQueueOptions } from '../interfaces/job-queue-options.interface';
import { JobPoller } from '../worker/job.poller';
import { JobNotifyListener } from '../worker/job-notify.listener';
import { WorkerRegistry } from '../maintenance/worker.registry';
import { healthCheck, type JobQueueHealthResult } from './health-result';
import { ScheduleRepository } from '../schedules/schedule.repository';
import { findLateSchedules } from '../schedules/late-schedules';

export interface JobQueueHealthOptions {
  /** Down when the database does not answer within this long. Default 1000 ms. */
  timeoutMs?: number;
  /** Down when the oldest runnable pending job has waited longer than this. */
  maxBacklogAgeMs?: number;
  /** Down when the dead-letter table holds more jobs than this (counted up to this many plus one, never all). */
  maxDeadJobs?: number;
  /**
   * Down when more than this many pending jobs wait in a queue and type that no live worker serves (0: any such
   * job). For a readiness probe or an alert, not a liveness probe: restarting this instance does not serve them.
   */
  maxUnservedJobs?: number;
  /**
   * Down (a degraded claim) when the median duration of this instance's claims over the last `claimWindowMs`
   * exceeds this: the symptom of a claim plan gone bad or of dead index entries a long transaction keeps alive.
   * An instance that claimed nothing in the window is not judged.
   */
  maxClaimMs?: number;
  /** The window of `maxClaimMs`. Default 30000 ms. */
  claimWindowMs?: number;
  /**
   * Down when a schedule (not paused) has not fired for more than this many of its periods (e.g. 2): its first
   * unfired slot is that far in the past although this instance, which answers, is up.
   */
  maxScheduleLatePeriods?: number;
}

/**
 * The `job_queue` Terminus indicator: down when the database does not answer within a second, when the claim loop
 * has not ticked or a claim has not returned for three poll intervals, or past the optional backlog, dead-letter,
 * unserved-jobs and claim-time thresholds. The backlog, dead-letter and claim-time checks cost the same whatever the backlog (one index probe per
 * priority, a count bounded by the threshold), so a large backlog alone never makes them time out.
 * Its result has the shape Terminus reads, with no dependency on Terminus: the app composes it in its own health
 * controller.
 */
@Injectable()
export class JobQueueHealthIndicator {
  /** @internal Nest constructs it; the parameters are the library's internals. */
  constructor(
    @Inject(JOB_QUEUE_OPTIONS) private readonly options: ResolvedJobQueueOptions,
    private readonly repository: JobRepository,
    private readonly poller: JobPoller,
    private readonly listener: JobNotifyListener,
    private readonly workers: WorkerRegistry,
    private readonly schedules: ScheduleRepository,
  ) {}

  async isHealthy<const Key extends string = 'job_queue'>(
    key: Key = 'job_queue' as Key,
    thresholds: JobQueueHealthOptions = {},
  ): Promise<JobQueueHealthResult<Key>> {
    const indicator = healthCheck(key);
    const timeoutMs = thresholds.timeoutMs ?? 1_000;
    const info: Record<string, unknown> = {
      listener: this.options.pollOnly ? 'poll-only' : this.listener.connected ? 'listening' : 'polling',
    };
    if (this.poller.active) {
      const stalled = this.poller.stalledMs();
      info.lastPollMsAgo = stalled;
      const limit = 3 * this.options.pollIntervalMs;
      if (stalled > limit) {
        // The poll interval still ticking while a claim is out: the claim waits (a lock, a dead connection). Not
        // ticking: the event loop is blocked, and a claim sent before it cannot return either.
        const ticking = Date.now() - this.poller.lastTickAt <= limit;
        const message =
          this.poller.claimWaiting && ticking
            ? `a claim has not returned for ${stalled} ms`
            : `the claim loop has not run for ${stalled} ms`;
        return indicator.down({ ...info, message });
      }
    }
    if (thresholds.maxClaimMs !== undefined) {
      const recent = this.poller.recentClaimMs(thresholds.claimWindowMs ?? 30_000);
      if (recent) {
        const claimMs = Math.round(recent.medianMs * 10) / 10;
        info.claimMs = claimMs;
        if (recent.medianMs > thresholds.maxClaimMs) {
          return indicator.down({
            ...info,
            message: `claims are degraded: median ${claimMs} ms over the last ${recent.claims} claims (threshold ${thresholds.maxClaimMs} ms)`,
          });
        }
      }
    }
    try {
      await withTimeout(this.repository.ping(), timeoutMs);
      if (thresholds.maxBacklogAgeMs !== undefined) {
        const age = await withTimeout(this.repository.oldestPendingAgeMs(), timeoutMs);
        info.oldestPendingMs = age;
        if (age !== null && age > thresholds.maxBacklogAgeMs) {
          return indicator.down({ ...info, message: `the oldest pending job has waited ${age} ms` });
        }
      }
      if (thresholds.maxDeadJobs !== undefined) {
        const dead = await withTimeout(this.repository.countDeadUpTo(thresholds.maxDeadJobs + 1), timeoutMs);
        info.dead = dead;
        if (dead > thresholds.maxDeadJobs) {
          // `dead` is counted up to the threshold plus one: past it, the figure is a floor.
          return indicator.down({ ...info, message: `${dead} dead jobs (threshold ${thresholds.maxDeadJobs})` });
        }
      }
      if (thresholds.maxUnservedJobs !== undefined) {
        const unserved = await withTimeout(this.workers.findUnserved(), timeoutMs);
        const count = unserved.reduce((sum, u) => sum + u.pending, 0);
        info.unserved = unserved;
        if (count > thresholds.maxUnservedJobs) {
          const pairs = unserved.map((u) => `${u.queue}/${u.type}`).join(', ');
          return indicator.down({ ...info, message: `${count} pending jobs have no live worker (${pairs})` });
        }
      }
      if (thresholds.maxScheduleLatePeriods !== undefined) {
        const late = findLateSchedules(
          await withTimeout(this.schedules.list(), timeoutMs),
          thresholds.maxScheduleLatePeriods,
        );
        if (late.length > 0) {
          info.lateSchedules = late;
          const names = late.map((l) => `${l.name} (${l.periods} periods)`).join(', ');
          return indicator.down({ ...info, message: `schedules have not fired: ${names}` });
        }
      }
    } catch (error) {
      return indicator.down({ ...info, message: `database: ${(error as Error).message}` });
    }
    return indicator.up(info);
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  promise.catch(() => undefined);
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
