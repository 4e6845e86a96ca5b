import { Injectable, type INestApplicationContext } from '@nestjs/common';
import { JobHandler, JobProducer, type JobContext } from '@app/job-queue';
import { createTestDatabase, type TestDatabase } from './support/test-database';
import { startTestApp } from './support/test-app';
import { query } from './support/sql';
import { waitFor } from './support/wait-for';

/** A preview cut in the middle of an emoji: its high surrogate is left alone, which jsonb refuses. */
const CUT_PREVIEW = 'Hello 😀'.slice(0, 7);
/** The six characters `\u0000` as text: a backslash, then `u0000`. Not a NUL; kept as they are. */
const ESCAPE_AS_TEXT = 'x\\u0000y';
/** Real NUL characters, in a key and in a value: jsonb refuses them, so they are dropped. */
const WITH_NUL = { 'a\u0000b': ['c\u0000d', 'ok'] };

const RESULTS: Record<string, unknown> = { cut: CUT_PREVIEW, escape: ESCAPE_AS_TEXT, nul: WITH_NUL };
const PLAIN = { sent: 3 };
/** Nested deeper than a server with `max_stack_depth = 100kB` parses as jsonb; `JSON.stringify` writes it. */
const DEEP = 1_000;
const runs = new Map<string, number>();

@Injectable()
class Handlers {
  @JobHandler('kept.value')
  value(payload: { kind: string }, ctx: JobContext): unknown {
    runs.set(ctx.id, (runs.get(ctx.id) ?? 0) + 1);
    return RESULTS[payload.kind];
  }

  /** The same values from a transactional handler, whose completion is written inside its transaction. */
  @JobHandler('kept.tx-value', { transactional: true })
  txValue(payload: { kind: string }, ctx: JobContext): unknown {
    runs.set(ctx.id, (runs.get(ctx.id) ?? 0) + 1);
    return payload.kind === 'plain' ? PLAIN : RESULTS[payload.kind];
  }

  @JobHandler('kept.deep')
  deep(_: unknown, ctx: JobContext): unknown {
    runs.set(ctx.id, (runs.get(ctx.id) ?? 0) + 1);
    let nested: unknown[] = [];
    for (let n = 1; n < DEEP; n++) nested = [nested];
    return nested;
  }
}

async function allOutOfJobs(url: string): Promise<void> {
  await waitFor(
    'every job out of jobs',
    async () => {
      const [row] = await query<{ n: number }>(url, 'SELECT count(*)::int AS n FROM job_queue.jobs');
      return row.n === 0;
    },
    60_000,
  );
}

/** Short leases: a completion that is not written shows as a second run within a test's deadline. */
const OPTIONS = { pollIntervalMs: 100, leaseMs: 2_000, recoveryIntervalMs: 200, retention: { completedMs: 600_000 } };

/**
 * Retention keeps each completed job with the handler's result as jsonb. A result holding a string jsonb refuses
 * must not fail the completion: the job would stay processing, run again after its lease and die as "lease expired".
 */
describe('retention: results jsonb cannot hold as they are', () => {
  let db: TestDatabase;
  let app: INestApplicationContext;

  beforeAll(async () => {
    db = await createTestDatabase();
    app = await startTestApp({ connectionUrl: db.url, ...OPTIONS }, [Handlers]);
  });

  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  it("keeps a transactional handler's result, written with the work in its transaction", async () => {
    const { id } = await app.get(JobProducer).enqueue('kept.tx-value', { kind: 'plain' });
    await waitFor('completed', async () => {
      const [row] = await query(db.url, 'SELECT status, result FROM job_queue.finished_jobs WHERE id = $1', [id]);
      return row;
    });
    const [row] = await query(db.url, 'SELECT status, result FROM job_queue.finished_jobs WHERE id = $1', [id]);
    expect(row).toEqual({ status: 'completed', result: { sent: 3 } });
  });

  it('completes each job once and keeps its result cleaned', async () => {
    const kinds = Object.keys(RESULTS);
    const { ids } = await app
      .get(JobProducer)
      .enqueueMany(
        ['kept.value', 'kept.tx-value'].flatMap((type) => kinds.map((kind) => ({ type, payload: { kind } }))),
      );
    await allOutOfJobs(db.url);

    const finished = await query<{ id: string; type: string; status: string; result: unknown }>(
      db.url,
      'SELECT id, type, status, result FROM job_queue.finished_jobs',
    );
    const dead = await query<{ id: string; failure_reason: string }>(
      db.url,
      'SELECT id, failure_reason FROM job_queue.dead_jobs',
    );
    expect(dead).toEqual([]);
    expect(ids.map((id) => runs.get(id))).toEqual(ids.map(() => 1));
    const kept = new Map(finished.map((row) => [row.id, row]));
    const expected = { cut: 'Hello \uFFFD', escape: ESCAPE_AS_TEXT, nul: { ab: ['cd', 'ok'] } };
    for (const [n, id] of ids.entries()) {
      const kind = kinds[n % kinds.length] as keyof typeof expected;
      expect({ kind, row: kept.get(id) }).toMatchObject({
        kind,
        row: { status: 'completed', result: expected[kind] },
      });
    }
  });
});

describe('retention: a result the server still refuses', () => {
  let db: TestDatabase;
  let app: INestApplicationContext;

  beforeAll(async () => {
    db = await createTestDatabase();
    // Every connection of the app opens after this: their jsonb parser gives up past about 1,000 levels.
    await query(db.url, `ALTER DATABASE "${db.name}" SET max_stack_depth = '100kB'`);
    app = await startTestApp({ connectionUrl: db.url, ...OPTIONS }, [Handlers]);
  });

  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  it('completes the job once and keeps null for its result', async () => {
    const { id } = await app.get(JobProducer).enqueue('kept.deep', {});
    await allOutOfJobs(db.url);
    const dead = await query(db.url, 'SELECT failure_reason FROM job_queue.dead_jobs');
    const finished = await query(db.url, 'SELECT id, status, result FROM job_queue.finished_jobs');
    expect({ dead, finished, runs: runs.get(id) }).toEqual({
      dead: [],
      finished: [{ id, status: 'completed', result: null }],
      runs: 1,
    });
  });
});
