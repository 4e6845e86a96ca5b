import { Logger } from '@nestjs/common';
import { SnoozeJob } from '../errors/job-queue.errors';
import type { RegisteredJobHandler } from '../discovery/job-handler.registry';
import type { ClaimedJob } from '../job.repository';
import { AttemptContext } from './attempt-context';
import { JobExecution } from './job-execution';

const job: ClaimedJob = {
  id: '7',
  queue: 'default',
  type: 'mail.send',
  payload: {},
  priority: 0,
  attempt_count: 2,
  max_attempts: 5,
  lock_token: 'token',
  created_at_ms: Date.UTC(2026, 0, 1),
  claimed_at_ms: Date.UTC(2026, 0, 1, 0, 1),
  run_at_ms: Date.UTC(2026, 0, 1),
  scheduled_for_ms: null,
  snooze_count: 1,
};
const handler = { type: 'mail.send', options: {}, run: async () => undefined } as unknown as RegisteredJobHandler;

describe('AttemptContext', () => {
  const logger = new Logger('test');

  it('reads as the plain context it replaces: fields, dates, no manager outside a transaction', () => {
    const ctx = new AttemptContext(new JobExecution(job, handler), () => undefined, logger);
    expect({
      id: ctx.id,
      type: ctx.type,
      queue: ctx.queue,
      attempt: ctx.attempt,
      maxAttempts: ctx.maxAttempts,
    }).toEqual({ id: '7', type: 'mail.send', queue: 'default', attempt: 2, maxAttempts: 5 });
    expect(ctx.snoozeCount).toBe(1);
    expect(ctx.createdAt.toISOString()).toBe('2026-01-01T00:00:00.000Z');
    expect(ctx.createdAt).toBe(ctx.createdAt);
    expect(ctx.scheduledFor).toBeNull();
    expect('manager' in ctx).toBe(false);
    expect(ctx.logger).toBe(logger);
    // What serialising it shows: the handler's fields, never the attempt behind them.
    expect(Object.keys(ctx).sort()).toEqual(['attempt', 'id', 'logger', 'maxAttempts', 'queue', 'snoozeCount', 'type']);
  });

  it('keeps snooze and progress usable when taken out of ctx', () => {
    const execution = new JobExecution(job, handler);
    const reported: unknown[] = [];
    const { snooze, progress } = new AttemptContext(execution, (e, value) => reported.push([e, value]), logger);
    progress({ done: 1 });
    expect(reported).toEqual([[execution, { done: 1 }]]);
    expect(() => snooze(5_000)).toThrow(SnoozeJob);
    expect(execution.snoozeRequested).toBe(5_000);
  });

  it("gives the attempt's signal, aborted with the attempt", () => {
    const execution = new JobExecution(job, handler);
    const ctx = new AttemptContext(execution, () => undefined, logger);
    const signal = ctx.signal;
    expect(signal.aborted).toBe(false);
    execution.abort('timeout', new Error('timed out'));
    expect(signal.aborted).toBe(true);
  });
});
