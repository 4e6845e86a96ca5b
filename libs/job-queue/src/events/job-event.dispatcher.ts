import { Injectable, Logger } from '@nestjs/common';
import { errorMessage } from '../worker/failure-decision';
import { messages } from '../job-queue.messages';
import type { JobEvent, JobEventJob, JobEventName } from '../interfaces/job-event.interface';
import { waitUntilIdle } from '../worker/wait-until-idle';

/** A discovered hook. */
export interface RegisteredJobEventHook {
  /** A job type, or `'*'`. */
  type: string;
  events: readonly JobEventName[];
  /** `Class.method`, for messages. */
  name: string;
  run: (event: JobEvent) => unknown;
}

/**
 * Runs the `@OnJobEvent` hooks of committed outcomes. `dispatch` is the one call every path makes once its write
 * has committed (a batch's completion statement, a dead letter, a cancel): it returns at once, and each hook runs
 * on a later turn of the event loop, isolated: a hook that throws or rejects is logged, never changes the job and
 * never reaches the worker. Hooks of one event run concurrently, so a slow hook delays neither the next claim nor
 * the other hooks.
 */
@Injectable()
export class JobEventDispatcher {
  private readonly logger = new Logger('JobQueue');
  /** Hooks by event, then by type (`'*'` for every type). */
  private readonly hooks = new Map<JobEventName, Map<string, RegisteredJobEventHook[]>>();
  private running = 0;
  private readonly idle = new Set<() => void>();

  add(hook: RegisteredJobEventHook): void {
    for (const event of hook.events) {
      let byType = this.hooks.get(event);
      if (!byType) this.hooks.set(event, (byType = new Map<string, RegisteredJobEventHook[]>()));
      const list = byType.get(hook.type) ?? [];
      if (!list.includes(hook)) list.push(hook);
      byType.set(hook.type, list);
    }
  }

  /** Whether any hook listens to `event` for jobs of `type`: callers skip building the event when none does. */
  listens(event: JobEventName, type: string): boolean {
    const byType = this.hooks.get(event);
    return byType !== undefined && (byType.has(type) || byType.has('*'));
  }

  /** Schedules the hooks of `event` for each job; call it only after the outcome is committed. Never throws. */
  dispatch(event: JobEventName, jobs: Iterable<JobEventJob>): void {
    const byType = this.hooks.get(event);
    if (!byType) return;
    const any = byType.get('*') ?? [];
    for (const job of jobs) {
      const hooks = [...(byType.get(job.type) ?? []), ...any];
      for (const hook of hooks) this.run(hook, { ...job, event });
    }
  }

  /** Resolves when no hook is running, or after `timeoutMs`; true when none is. Shutdown waits here before closing. */
  async drain(timeoutMs: number): Promise<boolean> {
    if (this.running === 0) return true;
    return waitUntilIdle(this.idle, () => this.running === 0, timeoutMs);
  }

  private run(hook: RegisteredJobEventHook, event: JobEvent): void {
    this.running += 1;
    // setImmediate: the caller (the worker's finish path) goes on first, and a hook that blocks synchronously
    // still runs outside it.
    setImmediate(() => {
      Promise.resolve()
        .then(() => hook.run(event))
        .catch((error: unknown) => {
          this.logger.error(messages.hookFailed(hook.name, event.event, event.id, event.type, errorMessage(error)));
        })
        .finally(() => {
          this.running -= 1;
          if (this.running === 0) for (const onIdle of [...this.idle]) onIdle();
        });
    });
  }
}

/** A job row's columns an event is built from, as the queue's statements return them. */
export interface JobEventRow {
  id: string;
  type: string;
  queue: string;
  payload: unknown;
  attempt_count: number;
  max_attempts: number;
}

/** The event's job from a row of `jobs` or `dead_jobs` (for callers that hold rows, such as a cancel). */
export function jobEventJobOf(row: JobEventRow, extra: Pick<JobEventJob, 'error' | 'result'> = {}): JobEventJob {
  return {
    id: row.id,
    type: row.type,
    queue: row.queue,
    payload: row.payload,
    attempt: row.attempt_count,
    maxAttempts: row.max_attempts,
    ...extra,
  };
}
