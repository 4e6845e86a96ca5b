import { Injectable, type INestApplicationContext } from '@nestjs/common';
import { JobHandler, JobProducer, JobQueueHealthIndicator, JOB_QUEUE_METRICS } from '@app/job-queue';
import { UNSERVED_LIMITS, WorkerRegistry, findUnserved, queueTables } from '@app/job-queue/internal';
import { CapturingLogger } from './support/capturing-logger';
import { createTestDatabase, type TestDatabase } from './support/test-database';
import { startTestApp } from './support/test-app';
import { query } from './support/sql';
import { waitFor } from './support/wait-for';
import { register } from 'prom-client';
import { metricSample } from './support/queue-probes';

@Injectable()
class ServedHandlers {
  @JobHandler('reg.served')
  async served() {}
}

interface WorkerRow {
  instance_id: string;
  queues: string[];
  types: string[];
  concurrency: number;
  live: boolean;
}

const workers = (url: string) =>
  query<WorkerRow>(
    url,
    'SELECT instance_id, queues, types, concurrency, expires_at > now() AS live FROM job_queue.workers ORDER BY 1',
  );

describe('live workers and unserved jobs', () => {
  let db: TestDatabase;
  const apps: INestApplicationContext[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
  });

  afterEach(async () => {
    await Promise.all(apps.splice(0).map((a) => a.close()));
    await query(db.url, 'TRUNCATE job_queue.jobs, job_queue.workers');
  });

  afterAll(async () => {
    await db?.drop();
  });

  async function start(...args: Parameters<typeof startTestApp>): Promise<INestApplicationContext> {
    const app = await startTestApp(...args);
    apps.push(app);
    return app;
  }

  it('warns at start when a worker instance finds no handler (a handler class missing from every providers)', async () => {
    const logger = new CapturingLogger();
    await start({ connectionUrl: db.url, concurrency: 4, instanceId: 'no-handlers' }, [], logger);
    expect(logger.warnings).toEqual([
      expect.stringContaining('No @JobHandler found: this instance only enqueues (concurrency 4 is unused)'),
    ]);
    // It serves nothing, so it does not register as a worker.
    expect(await workers(db.url)).toEqual([]);
  });

  it('says nothing of the kind for a producer-only instance (concurrency 0)', async () => {
    const logger = new CapturingLogger();
    await start({ connectionUrl: db.url, concurrency: 0, instanceId: 'producer' }, [], logger);
    expect(logger.warnings.filter((w) => w.includes('No @JobHandler'))).toEqual([]);
  });

  it('registers a worker with its queues and types at start, and removes it at shutdown', async () => {
    const app = await start(
      { connectionUrl: db.url, instanceId: 'worker-a', queues: ['default', 'mail'], concurrency: 3 },
      [ServedHandlers],
    );
    const row = await waitFor('registered', async () =>
      (await workers(db.url)).find((w) => w.instance_id === 'worker-a'),
    );
    expect(row).toEqual({
      instance_id: 'worker-a',
      queues: ['default', 'mail'],
      types: ['reg.served'],
      concurrency: 3,
      live: true,
    });
    await app.close();
    apps.pop();
    expect(await workers(db.url)).toEqual([]);
  });

  it('flags pending jobs that no live worker serves: a warning, a metric and a health option', async () => {
    const logger = new CapturingLogger();
    await start({ connectionUrl: db.url, instanceId: 'worker-b', pollIntervalMs: 100, depthSampleIntervalMs: 0 }, [
      ServedHandlers,
    ]);
    const producer = await start(
      { connectionUrl: db.url, concurrency: 0, instanceId: 'producer-b', depthSampleIntervalMs: 100 },
      [],
      logger,
    );
    const jobs = producer.get(JobProducer);
    // Served: runs. Unserved: a type no instance handles, and a served type in a queue no instance listens to.
    await jobs.enqueueMany([
      { type: 'reg.served', payload: {} },
      { type: 'reg.unhandled', payload: {} },
      { type: 'reg.unhandled', payload: {} },
      { type: 'reg.served', payload: {}, queue: 'nobody' },
    ]);
    const gauge = (queue: string, type: string) => metricSample(JOB_QUEUE_METRICS.unserved, { queue, type });
    // Labelled as every metric is: a type or queue this (producer-only) instance does not know reads `other`, so
    // producers cannot create series; the warnings below name the pairs.
    await waitFor(
      'gauge set',
      async () => (await gauge('default', 'other')) === 2 && (await gauge('other', 'other')) === 1,
    );
    expect((await register.metrics()).match(/^job_queue_unserved_jobs\{.*$/gm)).toHaveLength(2);
    await waitFor('warned', () => logger.warnings.filter((w) => w.includes('have no live worker')).length === 2);
    expect(logger.warnings).toEqual(
      expect.arrayContaining([
        expect.stringContaining('2 pending jobs of type "reg.unhandled" in queue "default" have no live worker'),
        expect.stringContaining('1 pending jobs of type "reg.served" in queue "nobody" have no live worker'),
      ]),
    );

    const health = producer.get(JobQueueHealthIndicator);
    const down = await health.isHealthy('job_queue', { maxUnservedJobs: 0 });
    expect(down.job_queue.status).toBe('down');
    expect(down.job_queue.message).toBe(
      '3 pending jobs have no live worker (default/reg.unhandled, nobody/reg.served)',
    );
    expect((await health.isHealthy('job_queue', { maxUnservedJobs: 3 })).job_queue.status).toBe('up');

    // A worker whose row expired (no heartbeat for a lease) does not count; once live, the pair is served.
    await query(
      db.url,
      `INSERT INTO job_queue.workers (instance_id, queues, types, concurrency, expires_at)
                         VALUES ('ghost', '{default}', '{reg.unhandled}', 1, now() - interval '1 second')`,
    );
    expect((await producer.get(WorkerRegistry).findUnserved()).map((u) => u.type)).toEqual([
      'reg.unhandled',
      'reg.served',
    ]);
    await query(
      db.url,
      `UPDATE job_queue.workers SET expires_at = now() + interval '1 minute' WHERE instance_id = 'ghost'`,
    );
    await waitFor('served again', async () => (await gauge('default', 'other')) === 0);
    expect(await gauge('other', 'other')).toBe(1);
    // Each pair was warned about once, however many samples saw it.
    expect(logger.warnings.filter((w) => w.includes('have no live worker'))).toHaveLength(2);
  });

  it('bounds the check: at most 50 pairs reported, each counted up to 10,000', async () => {
    const producer = await start({
      connectionUrl: db.url,
      concurrency: 0,
      instanceId: 'producer-c',
      depthSampleIntervalMs: 0,
    });
    await query(
      db.url,
      `INSERT INTO job_queue.jobs (type, payload, status, max_attempts)
       SELECT 'reg.many.' || (i % 60), '{}'::jsonb, 'pending', 1 FROM generate_series(1, 60) i
       UNION ALL SELECT 'reg.big', '{}', 'pending', 1 FROM generate_series(1, 10050)`,
    );
    const unserved = await producer.get(WorkerRegistry).findUnserved();
    expect(unserved).toHaveLength(UNSERVED_LIMITS.reportedPairs);
    expect(unserved[0]).toEqual({ queue: 'default', type: 'reg.big', pending: UNSERVED_LIMITS.countCap });
  });

  it('reads a bounded number of index entries with a large backlog: one probe per pair, capped counts, no table scan', async () => {
    // The check walks an index that leads with (queue, type) over pending rows: the claim index of schema version 2
    // (jobs_available_idx). Created here with the same definition when this schema lacks it; a no-op once it has it.
    await query(
      db.url,
      `CREATE INDEX IF NOT EXISTS jobs_available_idx
       ON job_queue.jobs (queue, type, priority DESC, next_retry_at, created_at, id) WHERE status = 'pending'`,
    );
    // 200,000 pending jobs over 21 (queue, type) pairs, of which a live worker serves 18.
    await query(
      db.url,
      `INSERT INTO job_queue.jobs (queue, type, payload, status, max_attempts)
       SELECT 'q' || (i % 3), 't' || (i % 7), '{}'::jsonb, 'pending', 1 FROM generate_series(1, 200000) i`,
    );
    await query(
      db.url,
      `INSERT INTO job_queue.workers (instance_id, queues, types, concurrency, expires_at)
       VALUES ('w', '{q0,q1,q2}', '{t0,t1,t2,t3,t4,t5}', 1, now() + interval '1 minute')`,
    );
    await query(db.url, 'VACUUM ANALYZE job_queue.jobs');
    const { text } = findUnserved(queueTables('job_queue'));
    const params = [UNSERVED_LIMITS.reportedPairs, UNSERVED_LIMITS.countCap, UNSERVED_LIMITS.scannedPairs];
    const [
      {
        'QUERY PLAN': [explained],
      },
    ] = await query<{ 'QUERY PLAN': Array<{ Plan: PlanNode }> }>(
      db.url,
      `EXPLAIN (ANALYZE, FORMAT JSON) ${text}`,
      params,
    );
    const scans = nodes(explained.Plan).filter((n) => n['Relation Name'] === 'jobs');
    expect(scans.map((n) => n['Node Type'])).not.toContain('Seq Scan');
    // Rows read from jobs: one per pair walked, plus at most countCap per unserved pair counted.
    const read = scans.reduce((sum, n) => sum + n['Actual Rows'] * n['Actual Loops'], 0);
    expect(read).toBeLessThanOrEqual(21 + 3 * UNSERVED_LIMITS.countCap);
    expect(await query(db.url, text, params)).toEqual([
      { queue: 'q0', type: 't6', pending: 9_524 },
      { queue: 'q1', type: 't6', pending: 9_524 },
      { queue: 'q2', type: 't6', pending: 9_523 },
    ]);
  });
});

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Actual Rows': number;
  'Actual Loops': number;
  Plans?: PlanNode[];
}

function nodes(plan: PlanNode): PlanNode[] {
  return [plan, ...(plan.Plans ?? []).flatMap(nodes)];
}
