import { Client } from 'pg';
import type { DataSource } from 'typeorm';
import { limitLockKey, limitsOf, queueTables, type JobRepository } from '@app/job-queue/internal';
import { createTestDatabase, type TestDatabase } from './support/test-database';
import { query } from './support/sql';
import { waitFor } from './support/wait-for';
import { openRepository } from './support/queue-probes';

/**
 * A limited claim waits for its type's advisory lock while other claims of the type run; what commits during that
 * wait is what it claims, and what it returns must be those rows as they are then, not as its statement's snapshot
 * (taken before the wait) saw them: a snoozed job's snooze count, a schedule's job (inserted during the wait)
 * with its slot and trace context. A job that became due during the wait is due for the claim too.
 */
describe('a limited claim that waited for its lock', () => {
  let db: TestDatabase;
  let claimer: { repository: JobRepository; dataSource: DataSource };
  let holder: Client;

  beforeAll(async () => {
    db = await createTestDatabase();
    claimer = await openRepository(db.url, 2);
    holder = new Client({ connectionString: db.url });
    await holder.connect();
  });

  afterAll(async () => {
    await holder?.end();
    await claimer?.dataSource.destroy();
    await db?.drop();
  });

  it('returns the rows as they are when it claims them, and claims what became due while it waited', async () => {
    const type = 'lim.waited';
    const lim = limitsOf({ concurrencyPerKey: 1 }, 'test')!;
    const trace = { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' };
    // Two keyed jobs, claimed and then snoozed while the next claim waits; one keyless job due all along, so that
    // the next claim finds something due and goes on to wait for the lock.
    const [a, b] = await query<{ id: string }>(
      db.url,
      `INSERT INTO job_queue.jobs (type, payload, status, max_attempts, concurrency_key, trace_context, created_at)
       SELECT $1, '{}'::jsonb, 'pending', 3, k, $2::jsonb, now() FROM unnest(ARRAY['A', 'B']) k
       RETURNING id`,
      [type, JSON.stringify(trace)],
    );
    const first = await claimer.repository.claimLimited([], ['default'], type, lim, 5, 'first');
    expect(first.jobs.map((j) => j.id).sort()).toEqual([a.id, b.id].sort());
    const tokenOf = (id: string) => first.jobs.find((j) => j.id === id)!.lock_token;
    await query(
      db.url,
      `INSERT INTO job_queue.jobs (type, payload, status, max_attempts) VALUES ($1, '{}', 'pending', 3)`,
      [type],
    );

    await holder.query('BEGIN');
    let waiting: ReturnType<JobRepository['claimLimited']> | undefined;
    try {
      await holder.query('SELECT pg_advisory_xact_lock($1::bigint)', [
        limitLockKey(queueTables('job_queue').statementKey, type),
      ]);
      waiting = claimer.repository.claimLimited([], ['default'], type, lim, 5, 'waited');
      await waitFor('the claim to wait for the limit lock', async () => {
        const rows = await query(
          db.url,
          `SELECT 1 FROM pg_stat_activity
           WHERE datname = current_database() AND wait_event_type = 'Lock' AND wait_event = 'advisory'
             AND query LIKE '%claim_limited(%'`,
        );
        return rows.length === 1;
      });
      // A: due a minute ago, so due for the claim whatever clock it reads; B: due from the snooze's commit on,
      // after the claim's statement started.
      const snoozed = await claimer.repository.snoozeMany([
        { id: a.id, token: tokenOf(a.id), delayMs: -60_000 },
        { id: b.id, token: tokenOf(b.id), delayMs: 0 },
      ]);
      expect(snoozed).toEqual(new Set([a.id, b.id]));
      await query(
        db.url,
        `INSERT INTO job_queue.jobs (type, payload, status, max_attempts, schedule_name, scheduled_for, next_retry_at,
                                     trace_context)
         VALUES ($1, '{}', 'pending', 3, 'nightly', now() - interval '1 minute', now() - interval '1 minute', $2)`,
        [type, JSON.stringify(trace)],
      );
    } finally {
      await holder.query('COMMIT');
    }
    const claim = await waiting;

    const stored = await query<{ id: string; scheduled_for_ms: number | null; snooze_count: number }>(
      db.url,
      `SELECT id, (extract(epoch FROM scheduled_for) * 1000)::float8 AS scheduled_for_ms, snooze_count
       FROM job_queue.jobs WHERE type = $1`,
      [type],
    );
    const slotJob = stored.find((r) => r.scheduled_for_ms !== null)!;
    const seen = Object.fromEntries(
      claim.jobs.map((j) => [
        j.id,
        { scheduledForMs: j.scheduled_for_ms, snoozeCount: j.snooze_count, traceContext: j.trace_context },
      ]),
    );
    expect(seen[a.id]).toEqual({ scheduledForMs: null, snoozeCount: 1, traceContext: trace });
    expect(seen[slotJob.id]).toEqual({
      scheduledForMs: expect.closeTo(slotJob.scheduled_for_ms!, 2),
      snoozeCount: 0,
      traceContext: trace,
    });
    expect(seen[b.id]).toEqual({ scheduledForMs: null, snoozeCount: 1, traceContext: trace });
    expect(claim.jobs).toHaveLength(4);
  });
});
