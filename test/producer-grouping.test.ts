import { Injectable, type INestApplicationContext } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { JOB_QUEUE_METRICS as METRIC, JobHandler, JobProducer } from '@app/job-queue';
import { createTestDatabase, type TestDatabase } from './support/test-database';
import { startTestApp } from './support/test-app';
import { query } from './support/sql';
import { waitFor } from './support/wait-for';
import { countJobs, metricSample, openDataSource } from './support/queue-probes';

const TYPE = 'grouping.job';

/** Registered so that the enqueue counter carries this type as its label; concurrency 0 never runs it. */
@Injectable()
class GroupingHandlers {
  @JobHandler(TYPE)
  async run() {}
}

/** Waits until an insert statement of the producer waits on a row lock (another transaction's index entry). */
async function waitForBlockedInsert(url: string): Promise<void> {
  await waitFor('insert blocked on the key', async () => {
    const rows = await query(
      url,
      `SELECT 1 FROM pg_stat_activity
       WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%ON CONFLICT (idempotency_key)%'`,
    );
    return rows.length === 1;
  });
}

describe('producer: statements shared by callers and keys raced by other transactions', () => {
  let db: TestDatabase;
  let dataSource: DataSource;
  let app: INestApplicationContext;
  let producer: JobProducer;

  beforeAll(async () => {
    db = await createTestDatabase();
    // Time for the deadlock test to close its cycle before the producer's session looks for one (see there).
    await query(db.url, `ALTER DATABASE "${db.name}" SET deadlock_timeout = '3s'`);
    dataSource = await openDataSource(db.url, 10);
    app = await startTestApp({ dataSource, concurrency: 0 }, [GroupingHandlers]);
    await app.init();
    producer = app.get(JobProducer);
  });

  afterEach(async () => {
    await query(db.url, 'DELETE FROM job_queue.jobs');
  });

  afterAll(async () => {
    await app?.close();
    await dataSource?.destroy();
    await db?.drop();
  });

  it('a key committed by another transaction while the statement waits on it: every other row is written once', async () => {
    const enqueued = () => metricSample(METRIC.enqueued, { queue: 'default', type: TYPE });
    const before = await enqueued();
    // Another caller holds 'race-key' in a transaction it has not committed yet.
    const other = dataSource.createQueryRunner();
    await other.connect();
    await other.startTransaction();
    let theirs: string;
    try {
      ({ id: theirs } = await producer.enqueue(
        TYPE,
        { who: 'other' },
        { idempotencyKey: 'race-key', manager: other.manager },
      ));
      const ours = producer.enqueueMany([
        { type: TYPE, payload: { who: 'unkeyed' } },
        { type: TYPE, payload: { who: 'fresh' }, idempotencyKey: 'fresh-key' },
        { type: TYPE, payload: { who: 'us' }, idempotencyKey: 'race-key' },
      ]);
      await waitForBlockedInsert(db.url);
      await other.commitTransaction();
      const { ids } = await ours;

      const rows = await query<{ id: string; who: string }>(
        db.url,
        `SELECT id, payload->>'who' AS who FROM job_queue.jobs WHERE type = $1 ORDER BY who`,
        [TYPE],
      );
      expect(rows.map((r) => r.who)).toEqual(['fresh', 'other', 'unkeyed']);
      const byWho = Object.fromEntries(rows.map((r) => [r.who, r.id]));
      expect(ids).toEqual([byWho.unkeyed, byWho.fresh, theirs]);
      // Created here: the unkeyed job and the fresh key; the raced key was the other caller's (counted by it).
      expect((await enqueued()) - before).toBe(1 + 2);
    } finally {
      if (other.isTransactionActive) await other.rollbackTransaction();
      await other.release();
    }
  });

  it('a deadlock with a caller’s transaction that takes keys in another order is retried, not reported', async () => {
    const other = dataSource.createQueryRunner();
    await other.connect();
    // This session never looks for the deadlock, so the producer's does (3 s after it began to wait) and PostgreSQL
    // aborts the producer's statement: the one that must be retried.
    await other.query(`SET deadlock_timeout = '10min'`);
    await other.startTransaction();
    try {
      const b = await producer.enqueue(TYPE, { who: 'their-b' }, { idempotencyKey: 'dl-b', manager: other.manager });
      // Ours takes dl-a, then waits for their uncommitted dl-b.
      const ours = producer.enqueueMany([
        { type: TYPE, payload: { who: 'unkeyed' } },
        { type: TYPE, payload: { who: 'our-a' }, idempotencyKey: 'dl-a' },
        { type: TYPE, payload: { who: 'our-b' }, idempotencyKey: 'dl-b' },
      ]);
      await waitForBlockedInsert(db.url);
      // Theirs now waits for our dl-a: a cycle.
      const theirA = await producer.enqueue(
        TYPE,
        { who: 'their-a' },
        { idempotencyKey: 'dl-a', manager: other.manager },
      );
      await other.commitTransaction();
      const { ids } = await ours;
      expect(ids.slice(1)).toEqual([theirA.id, b.id]);
      const rows = await query<{ who: string }>(db.url, `SELECT payload->>'who' AS who FROM job_queue.jobs ORDER BY 1`);
      expect(rows.map((r) => r.who)).toEqual(['their-a', 'their-b', 'unkeyed']);
    } finally {
      if (other.isTransactionActive) await other.rollbackTransaction();
      await other.release();
    }
  });

  describe('a round after the first that fails writes nothing of its calls, and nothing twice', () => {
    /** Another caller's transaction holding `key`, not committed yet; the caller commits or rolls it back. */
    async function holdKey(key: string) {
      const holder = dataSource.createQueryRunner();
      await holder.connect();
      await holder.startTransaction();
      await producer.enqueue(TYPE, { who: 'holder' }, { idempotencyKey: key, manager: holder.manager });
      return holder;
    }

    /**
     * Refuses the insert of a job of ours (`who: 'us'`) with `code` once its key's job is visible: not in the first
     * round (the holder has not committed when it starts), but in the round after it.
     */
    async function refuseSecondRound(code: string): Promise<void> {
      await query(
        db.url,
        `
        CREATE FUNCTION public.refuse_second_round() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF EXISTS (SELECT 1 FROM job_queue.jobs WHERE idempotency_key = NEW.idempotency_key) THEN
            RAISE EXCEPTION 'second round refused' USING ERRCODE = TG_ARGV[0];
          END IF;
          RETURN NEW;
        END $$;
        CREATE TRIGGER refuse_second_round BEFORE INSERT ON job_queue.jobs
          FOR EACH ROW WHEN (NEW.payload->>'who' = 'us') EXECUTE FUNCTION public.refuse_second_round('${code}')`,
      );
    }

    afterEach(async () => {
      await query(
        db.url,
        'DROP TRIGGER IF EXISTS refuse_second_round ON job_queue.jobs; DROP FUNCTION IF EXISTS public.refuse_second_round()',
      );
    });

    it.each([
      ['alone', () => ({})],
      ['with a manager outside any transaction', () => ({ manager: dataSource.manager })],
    ])('enqueueMany %s: a refused second round leaves none of the call’s jobs', async (_, options) => {
      await refuseSecondRound('P0001');
      const holder = await holdKey('held');
      try {
        const ours = producer
          .enqueueMany(
            [
              { type: TYPE, payload: { who: 'unkeyed' } },
              { type: TYPE, payload: { who: 'us' }, idempotencyKey: 'held' },
            ],
            options(),
          )
          .then(
            () => 'resolved',
            (error: unknown) => String(error),
          );
        await waitForBlockedInsert(db.url);
        await holder.commitTransaction();
        expect(await ours).toContain('second round refused');
        expect(await countJobs(db.url, `payload->>'who' = 'unkeyed'`)).toBe(0);
      } finally {
        if (holder.isTransactionActive) await holder.rollbackTransaction();
        await holder.release();
      }
    });

    it.each([
      ['refused (the other caller’s job is written once)', 'P0001', 'fulfilled'],
      ['an outage (every caller fails, and nothing is written)', '57014', 'rejected'],
    ])('grouped calls, a second round %s', async (_, code, bystanderOutcome) => {
      await refuseSecondRound(code);
      const holder = await holdKey('held');
      try {
        // Four calls take the four lanes; the two after them wait and share one statement.
        const fillers = Array.from({ length: 4 }, () => producer.enqueue(TYPE, { who: 'filler' }));
        const calls = Promise.allSettled([
          producer.enqueue(TYPE, { who: 'bystander' }),
          producer.enqueue(TYPE, { who: 'us' }, { idempotencyKey: 'held' }),
        ]);
        await Promise.all(fillers);
        await waitForBlockedInsert(db.url);
        await holder.commitTransaction();
        const [bystander, ours] = await calls;
        expect(ours.status).toBe('rejected');
        expect(String((ours as PromiseRejectedResult).reason)).toContain('second round refused');
        expect(bystander.status).toBe(bystanderOutcome);
        // Never a rejection with its job written, nor a job written twice.
        const written = await countJobs(db.url, `payload->>'who' = 'bystander'`);
        expect(written).toBe(bystanderOutcome === 'fulfilled' ? 1 : 0);
      } finally {
        if (holder.isTransactionActive) await holder.rollbackTransaction();
        await holder.release();
      }
    });
  });

  it('a key that never resolves fails its own call only, writing nothing of it nor any other row twice', async () => {
    // A trigger that drops the row: its key is neither inserted nor found, however often the insert runs.
    await query(
      db.url,
      `
      CREATE FUNCTION public.drop_vanishing() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
      CREATE TRIGGER drop_vanishing BEFORE INSERT ON job_queue.jobs
        FOR EACH ROW WHEN (NEW.idempotency_key = 'vanishing') EXECUTE FUNCTION public.drop_vanishing()`,
    );
    try {
      // Four calls take the four lanes; the two after them wait and share one statement.
      const fillers = Array.from({ length: 4 }, () => producer.enqueue(TYPE, { who: 'filler' }));
      const [vanishing, bystander] = await Promise.allSettled([
        producer.enqueueMany([
          { type: TYPE, payload: { who: 'unkeyed' } },
          { type: TYPE, payload: { who: 'vanishing' }, idempotencyKey: 'vanishing' },
        ]),
        producer.enqueue(TYPE, { who: 'bystander' }, { idempotencyKey: 'bystander' }),
      ]);
      expect(vanishing.status).toBe('rejected');
      expect(String((vanishing as PromiseRejectedResult).reason)).toContain('"vanishing"');
      expect(bystander.status).toBe('fulfilled');
      await Promise.all(fillers);
      const rows = await query<{ who: string }>(db.url, `SELECT payload->>'who' AS who FROM job_queue.jobs ORDER BY 1`);
      // The call is refused whole: its unkeyed job is not written either.
      expect(rows.map((r) => r.who)).toEqual(['bystander', 'filler', 'filler', 'filler', 'filler']);
    } finally {
      await query(db.url, 'DROP TRIGGER drop_vanishing ON job_queue.jobs; DROP FUNCTION public.drop_vanishing()');
    }
  });

  describe('a job the database refuses fails its own caller only', () => {
    beforeAll(async () => {
      // Stands for anything the database may refuse that validation cannot know (a user's constraint, a trigger).
      await query(db.url, `ALTER TABLE job_queue.jobs ADD CONSTRAINT no_poison CHECK (NOT payload ? 'poison')`);
    });

    afterAll(async () => {
      await query(db.url, 'ALTER TABLE job_queue.jobs DROP CONSTRAINT no_poison');
    });

    it('among concurrent enqueue() calls grouped into one statement', async () => {
      // Four lanes take the first four calls alone; the sixteen after them wait and go as one group.
      const calls = Array.from({ length: 20 }, (_, n) =>
        producer.enqueue(TYPE, n === 10 ? { n, poison: true } : { n }, n % 3 === 0 ? { idempotencyKey: `g-${n}` } : {}),
      );
      const outcomes = await Promise.allSettled(calls);
      expect(outcomes.map((o) => o.status)).toEqual(
        Array.from({ length: 20 }, (_, n) => (n === 10 ? 'rejected' : 'fulfilled')),
      );
      expect(((outcomes[10] as PromiseRejectedResult).reason as { code?: string }).code).toBe('23514');
      const rows = await query<{ id: string; n: number }>(
        db.url,
        `SELECT id, (payload->>'n')::int AS n FROM job_queue.jobs ORDER BY n`,
      );
      expect(rows.map((r) => r.n)).toEqual(Array.from({ length: 20 }, (_, n) => n).filter((n) => n !== 10));
      const ids = outcomes.map((o) => (o.status === 'fulfilled' ? o.value.id : undefined));
      expect(rows.map((r) => r.id)).toEqual(ids.filter((id) => id !== undefined));
    });

    it('among concurrent enqueueMany() calls grouped into one statement', async () => {
      const calls = Array.from({ length: 12 }, (_, n) =>
        producer.enqueueMany([
          { type: TYPE, payload: n === 7 ? { n, i: 0, poison: true } : { n, i: 0 } },
          { type: TYPE, payload: { n, i: 1 }, idempotencyKey: `m-${n}` },
        ]),
      );
      const outcomes = await Promise.allSettled(calls);
      expect(outcomes.map((o) => o.status)).toEqual(
        Array.from({ length: 12 }, (_, n) => (n === 7 ? 'rejected' : 'fulfilled')),
      );
      expect(await countJobs(db.url)).toBe(11 * 2);
      expect(await countJobs(db.url, `(payload->>'n')::int = 7`)).toBe(0);
    });
  });
});
