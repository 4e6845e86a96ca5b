import { Injectable, type INestApplicationContext } from '@nestjs/common';
import { JobHandler, JobProducer, JobQueueAdmin } from '@app/job-queue';
import {
  findCancelBatch,
  listDeadJobs,
  listFinishedJobs,
  listLiveJobs,
  pruneDead,
  pruneFinished,
  queueTables,
} from '@app/job-queue/internal';
import { createTestDatabase, type TestDatabase } from './support/test-database';
import { startTestApp } from './support/test-app';
import { query, withClient } from './support/sql';
import type { PlanNode } from './support/explain-claim';

const FIRST = '00000000-0000-0000-0000-000000000000';

function nodesOf(plan: PlanNode): PlanNode[] {
  return [plan, ...(plan.Plans ?? []).flatMap(nodesOf)];
}

/**
 * `EXPLAIN (ANALYZE, BUFFERS)` of a library statement with these values, custom or generic (as a named statement
 * reused on a pooled connection gets), inside a transaction rolled back (the prune statements delete).
 */
async function explain(url: string, text: string, types: string[], values: unknown[], generic: boolean) {
  return withClient(url, async (client) => {
    await client.query('BEGIN');
    try {
      await client.query(`SET LOCAL plan_cache_mode = ${generic ? 'force_generic_plan' : 'force_custom_plan'}`);
      await client.query(`PREPARE explained (${types.join(', ')}) AS ${text}`);
      const args = values
        .map((v) => (v === null ? 'NULL' : client.escapeLiteral(String(v as string | number))))
        .join(', ');
      const rows = await client.query<{ 'QUERY PLAN': Array<{ Plan: PlanNode }> }>(
        `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) EXECUTE explained (${args})`,
      );
      return nodesOf(rows.rows[0]['QUERY PLAN'][0].Plan);
    } finally {
      await client.query('ROLLBACK');
    }
  });
}

@Injectable()
class NoHandlers {
  @JobHandler('list.none')
  async none() {}
}

/**
 * Every admin listing walks an index of its table and stops after a page: no sequential scan of `jobs`,
 * `dead_jobs` or `finished_jobs`, and no sort of their rows, custom plan or generic, on tables of 200,000 rows
 * with fresh statistics. And keyset paging returns every row once, in order.
 */
describe('admin listings', () => {
  let db: TestDatabase;
  let app: INestApplicationContext | undefined;
  const t = queueTables('job_queue');

  beforeAll(async () => {
    db = await createTestDatabase();
    await query(
      db.url,
      `INSERT INTO job_queue.jobs (queue, type, payload, status, max_attempts, locked_at)
       SELECT 'q' || (i % 4), 'list.t' || (i % 5), '{}', CASE WHEN i % 50 = 0 THEN 'processing' ELSE 'pending' END, 3,
              CASE WHEN i % 50 = 0 THEN now() END
       FROM generate_series(1, 200000) i`,
    );
    await query(
      db.url,
      `INSERT INTO job_queue.dead_jobs (id, queue, type, payload, priority, failure_reason, attempt_count, max_attempts, created_at, failed_at, snapshot)
       SELECT gen_random_uuid(), 'q' || (i % 4), 'list.t' || (i % 5), '{}', 0, 'x', 3, 3, now(), now() - i * interval '1 second', '{}'
       FROM generate_series(1, 200000) i`,
    );
    await query(
      db.url,
      `INSERT INTO job_queue.finished_jobs (id, queue, type, payload, status, priority, attempt_count, max_attempts, next_retry_at, created_at, finished_at)
       SELECT gen_random_uuid(), 'q' || (i % 4), 'list.t' || (i % 5), '{}', CASE WHEN i % 10 = 0 THEN 'cancelled' ELSE 'completed' END,
              0, 1, 3, now(), now(), now() - i * interval '1 second'
       FROM generate_series(1, 200000) i`,
    );
    await query(db.url, 'ANALYZE job_queue.jobs');
    await query(db.url, 'ANALYZE job_queue.dead_jobs');
    await query(db.url, 'ANALYZE job_queue.finished_jobs');
  }, 120_000);

  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  const listing = (state: string, queue: string | null, type: string | null) => [state, queue, type, FIRST, 100];
  const LIST_TYPES = ['text', 'text', 'text', 'uuid', 'int'];
  const cases = [
    { name: 'pending, any queue', factory: listLiveJobs, table: 'jobs', values: listing('pending', null, null) },
    {
      name: 'pending of a queue and type',
      factory: listLiveJobs,
      table: 'jobs',
      values: listing('pending', 'q1', 'list.t1'),
    },
    { name: 'processing of a queue', factory: listLiveJobs, table: 'jobs', values: listing('processing', 'q2', null) },
    { name: 'dead of a type', factory: listDeadJobs, table: 'dead_jobs', values: listing('dead', null, 'list.t3') },
    { name: 'completed', factory: listFinishedJobs, table: 'finished_jobs', values: listing('completed', null, null) },
    {
      name: 'cancelled of a queue',
      factory: listFinishedJobs,
      table: 'finished_jobs',
      values: listing('cancelled', 'q0', null),
    },
  ];

  for (const c of cases) {
    it(`lists ${c.name} by walking the key of ${c.table}, never scanning or sorting it`, async () => {
      for (const generic of [false, true]) {
        const nodes = await explain(db.url, c.factory(t).text, LIST_TYPES, c.values, generic);
        const scans = nodes.filter((n) => n['Relation Name'] === c.table);
        expect(nodes.filter((n) => n['Node Type'] === 'Seq Scan')).toEqual([]);
        expect(scans).toHaveLength(1);
        if (scans[0]['Index Name'] === 'jobs_rescue_idx') {
          // Processing rows may come from the recovery index instead, which holds exactly them: as many as jobs
          // are in flight over the fleet (concurrency and prefetch bound them), sorted by id.
          expect(c.values[0]).toBe('processing');
          continue;
        }
        expect({ generic, scan: [scans[0]['Node Type'], scans[0]['Index Name']] }).toEqual({
          generic,
          scan: ['Index Scan', `${c.table}_pkey`],
        });
        expect(nodes.filter((n) => /Sort/.test(n['Node Type']))).toEqual([]);
        // A page of 100: the walk stops after it (a filter matching 1 row in 40 reads a few thousand entries).
        expect(scans[0]['Actual Rows']).toBe(100);
      }
    });
  }

  it('prunes and cancels by filter along an index too', async () => {
    const statements = [
      {
        text: pruneFinished(t).text,
        types: ['float8', 'int'],
        values: [3_600_000, 500],
        index: 'finished_jobs_finished_at_idx',
      },
      { text: pruneDead(t).text, types: ['float8', 'int'], values: [3_600_000, 500], index: 'dead_jobs_failed_at_idx' },
      {
        text: findCancelBatch(t).text,
        types: ['text', 'text', 'uuid', 'int'],
        values: ['q1', 'list.t2', FIRST, 100],
        index: 'jobs_pkey',
      },
    ];
    for (const s of statements) {
      for (const generic of [false, true]) {
        const nodes = await explain(db.url, s.text, s.types, s.values, generic);
        expect(nodes.filter((n) => n['Node Type'] === 'Seq Scan')).toEqual([]);
        expect(nodes.some((n) => n['Index Name'] === s.index)).toBe(true);
      }
    }
  });

  it('pages with a keyset: every row once, in id order, whatever the page size', async () => {
    app = await startTestApp({ connectionUrl: db.url, concurrency: 0 }, [NoHandlers]);
    await app.init();
    const admin = app.get(JobQueueAdmin);
    const producer = app.get(JobProducer);
    const { ids } = await producer.enqueueMany(
      Array.from({ length: 23 }, () => ({ type: 'list.paged', payload: {}, queue: 'paged', delayMs: 60_000 })),
    );
    const seen: string[] = [];
    let after: string | undefined;
    for (let pages = 0; pages < 10; pages++) {
      const page = await admin.listJobs({ state: 'pending', queue: 'paged', type: 'list.paged', after, limit: 5 });
      seen.push(...page.jobs.map((j) => j.id as string));
      expect(page.jobs.every((j) => j.status === 'pending' && j.queue === 'paged')).toBe(true);
      if (!page.next) break;
      after = page.next;
    }
    expect(seen).toEqual([...ids].sort());
    const dead = await admin.listJobs({ state: 'dead', queue: 'q1', limit: 3 });
    expect(dead.jobs).toHaveLength(3);
    expect(dead.jobs.every((j) => j.status === 'dead' && j.queue === 'q1')).toBe(true);
    await expect(admin.listJobs({ state: 'done' as never })).rejects.toThrow(/state must be one of/);
    await expect(admin.listJobs({ state: 'pending', after: 'x' })).rejects.toThrow(/after/);
  });
});
