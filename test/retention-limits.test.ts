import { Injectable, type INestApplicationContext } from '@nestjs/common';
import { JobHandler, JobProducer } from '@app/job-queue';
import { createTestDatabase, type TestDatabase } from './support/test-database';
import { startTestApp } from './support/test-app';
import { query } from './support/sql';
import { waitFor } from './support/wait-for';

@Injectable()
class Handlers {
  @JobHandler('kept.plain')
  async plain(): Promise<{ ok: true }> {
    await new Promise((resolve) => setTimeout(resolve, 5));
    return { ok: true };
  }

  /** A type with limits: its claims go through the limited claim, which may carry other jobs' completions. */
  @JobHandler('kept.limited', { concurrencyPerKey: 1 })
  async limited(): Promise<void> {}
}

/**
 * Retention beside a type with limits: every completion is kept with its result, whichever claim carried it. The
 * limited claim writes the completions due in its own round trip; with retention on it must leave them to the
 * writer that keeps them, or completed jobs vanish instead of becoming `completed`.
 */
describe('retention with a limited type served by the same instance', () => {
  let db: TestDatabase;
  let app: INestApplicationContext;

  beforeAll(async () => {
    db = await createTestDatabase();
    app = await startTestApp(
      { connectionUrl: db.url, concurrency: 4, pollIntervalMs: 200, retention: { completedMs: 600_000 } },
      [Handlers],
    );
  });

  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  it('keeps every completed job, with its result', async () => {
    const producer = app.get(JobProducer);
    await producer.enqueueMany(Array.from({ length: 100 }, (_, i) => ({ type: 'kept.plain', payload: { i } })));
    await producer.enqueueMany(
      Array.from({ length: 20 }, (_, i) => ({ type: 'kept.limited', payload: { i }, concurrencyKey: `k${i % 3}` })),
    );
    await waitFor('every job finished', async () => {
      const [row] = await query<{ n: number }>(db.url, 'SELECT count(*)::int AS n FROM job_queue.jobs');
      return row.n === 0;
    });
    const kept = await query<{ type: string; n: number; with_result: number }>(
      db.url,
      `SELECT type, count(*)::int AS n, count(*) FILTER (WHERE result = '{"ok": true}')::int AS with_result
       FROM job_queue.finished_jobs WHERE status = 'completed' GROUP BY type ORDER BY type`,
    );
    expect(kept).toEqual([
      { type: 'kept.limited', n: 20, with_result: 0 },
      { type: 'kept.plain', n: 100, with_result: 100 },
    ]);
  });
});
