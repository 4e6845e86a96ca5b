import { Inject, Injectable } from '@nestjs/common';
import { JobHandler, type JobContext } from '@app/job-queue';
import { SAMPLE_CONFIG, type SampleConfig } from '../config/sample.config';

/** The demo handlers the end-to-end tests drive: one per behaviour the queue must get right. */
@Injectable()
export class DemoHandlers {
  constructor(@Inject(SAMPLE_CONFIG) private readonly config: SampleConfig) {}

  @JobHandler('demo.noop')
  async noop(): Promise<void> {}

  /** Sleeps `ms`, and stops early when the attempt is aborted (timeout, lease loss, shutdown). */
  @JobHandler('demo.sleep')
  async sleep(payload: { ms?: number }, ctx: JobContext): Promise<void> {
    await sleepUnlessAborted(Number(payload?.ms ?? 1000), ctx.signal);
  }

  @JobHandler('demo.fail')
  fail(payload: { message?: string }): Promise<void> {
    return Promise.reject(new Error(payload?.message ?? 'demo.fail always fails'));
  }

  /** Fails while `attempt <= failTimes`, then succeeds. */
  @JobHandler('demo.flaky')
  flaky(payload: { failTimes?: number }, ctx: JobContext): Promise<void> {
    if (ctx.attempt <= Number(payload?.failTimes ?? 1)) {
      return Promise.reject(new Error(`demo.flaky failing attempt ${ctx.attempt} of ${payload?.failTimes ?? 1}`));
    }
    return Promise.resolve();
  }

  /** Writes one effect row in the job's own transaction: exactly once, even across crashes. */
  @JobHandler('demo.record', { transactional: true })
  async record(payload: { delayMs?: number }, ctx: JobContext): Promise<void> {
    await ctx.manager!.query(
      'INSERT INTO sample.effects (job_id, instance_id, attempt, scheduled_for) VALUES ($1, $2, $3, $4)',
      [ctx.id, this.config.instanceId, ctx.attempt, ctx.scheduledFor ?? null],
    );
    const delayMs = Number(payload?.delayMs ?? 0);
    if (delayMs > 0) await sleepUnlessAborted(delayMs, ctx.signal);
  }

  /**
   * Snoozes `times` times by `ms` (no attempt charged; `ctx.snoozeCount` says how many so far), then completes. Its
   * progress, `{ snoozes, of }`, shows on `GET /jobs/:id` while it waits.
   */
  @JobHandler('demo.snooze')
  snooze(payload: { ms?: number; times?: number }, ctx: JobContext): Promise<void> {
    const times = Number(payload?.times ?? 1);
    if (ctx.snoozeCount < times) {
      ctx.progress({ snoozes: ctx.snoozeCount + 1, of: times });
      ctx.snooze(Number(payload?.ms ?? 1000));
    }
    return Promise.resolve();
  }

  /** Kills its own process abruptly, like an out-of-memory kill, to show crash recovery. */
  @JobHandler('demo.crash')
  crash(): Promise<void> {
    process.kill(process.pid, 'SIGKILL');
    return Promise.resolve();
  }

  /** Sleeps `ms`; at most 2 run at once per `concurrencyKey` across all instances (a tenant's fair share). */
  @JobHandler('demo.tenant', { concurrencyPerKey: 2 })
  async tenant(payload: { ms?: number }, ctx: JobContext): Promise<void> {
    await sleepUnlessAborted(Number(payload?.ms ?? 100), ctx.signal);
  }

  /** A no-op started at most 20 times in any one-second window across all instances (a sliding window). */
  @JobHandler('demo.limited', { rateLimit: { max: 20, periodMs: 1_000 } })
  async limited(): Promise<void> {}

  /** Sleeps `ms`; at most 3 run at once across all instances, whatever each instance's concurrency. */
  @JobHandler('demo.global', { globalConcurrency: 3 })
  async global(payload: { ms?: number }, ctx: JobContext): Promise<void> {
    await sleepUnlessAborted(Number(payload?.ms ?? 100), ctx.signal);
  }
}

/** Waits `ms`, or rejects with the signal's reason as soon as it is aborted (timeout, lease loss, shutdown). */
function sleepUnlessAborted(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason as Error);
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(signal.reason as Error);
      },
      { once: true },
    );
  });
}
