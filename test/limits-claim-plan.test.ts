import { Client } from 'pg';
import {
  claimLimited,
  limitLockKey,
  limitsOf,
  MAX_KEYS_PER_CLAIM,
  queueTables,
  type JobLimits,
} from '@app/job-queue/internal';
import { createTestDatabase, type TestDatabase } from './support/test-database';
import { query } from './support/sql';

/**
 * The limited claim's cost follows what it claims, not the backlog: with 200,000 pending jobs of one key (and of one
 * keyless type), every statement the function runs is an index probe. Its nested statements' plans come from
 * auto_explain (log_nested_statements, sent to this client as notices): their buffers add up to a few dozen pages,
 * where one read of the backlog is thousands.
 */
describe('the limited claim does not read the backlog', () => {
  let db: TestDatabase;
  let client: Client;
  const plans: any[] = [];
  /** A claim of 5 jobs is a few probes per key visited; the 200,000-row backlog's index alone is over 1,000 pages. */
  const FEW_BUFFERS = 300;

  beforeAll(async () => {
    db = await createTestDatabase();
    await query(
      db.url,
      `INSERT INTO job_queue.jobs (type, payload, status, max_attempts, concurrency_key, created_at)
       SELECT 'plan.keyed', '{}'::jsonb, 'pending', 3, 'A', now() - interval '1 hour' + n * interval '1 millisecond'
       FROM generate_series(1, 200000) n
       UNION ALL
       SELECT 'plan.keyed', '{}'::jsonb, 'pending', 3, k, now() FROM unnest(ARRAY['B', 'C']) k, generate_series(1, 10)
       UNION ALL
       SELECT 'plan.global', '{}'::jsonb, 'pending', 3, NULL, now() - interval '1 hour' + n * interval '1 millisecond'
       FROM generate_series(1, 200000) n`,
    );
    await query(db.url, `ANALYZE job_queue.jobs`);
    client = new Client({ connectionString: db.url });
    await client.connect();
    client.on('notice', (notice) => {
      const text = notice.message ?? '';
      const json = text.slice(text.indexOf('{'));
      try {
        plans.push(JSON.parse(json));
      } catch {
        // not a plan
      }
    });
    await client.query(`LOAD 'auto_explain'`);
    for (const setting of [
      `auto_explain.log_min_duration = 0`,
      `auto_explain.log_analyze = on`,
      `auto_explain.log_buffers = on`,
      `auto_explain.log_nested_statements = on`,
      `auto_explain.log_format = json`,
      `auto_explain.log_level = notice`,
    ]) {
      await client.query(`SET ${setting}`);
    }
  });

  afterAll(async () => {
    await client?.end();
    await db?.drop();
  });

  const nodes = (plan: any): any[] => [plan, ...(plan.Plans ?? []).flatMap(nodes)];

  async function claim(type: string, limits: JobLimits, room: number) {
    plans.length = 0;
    const statement = claimLimited(queueTables('job_queue'));
    const { rows } = await client.query({
      text: statement.text,
      values: [
        limitLockKey('job_queue', type),
        ['default'],
        type,
        room,
        'plan',
        [],
        [],
        limits.globalConcurrency,
        limits.concurrencyPerKey,
        limits.rateLimit?.max ?? null,
        limits.rateLimit?.periodMs ?? null,
        limits.rateLimit?.perKey ?? false,
        MAX_KEYS_PER_CLAIM,
      ],
    });
    // The nested statements only: the outer one's buffers include them all again.
    const nested = plans.filter((p) => !String(p['Query Text']).includes('claim_limited('));
    const all = nested.flatMap((p) => nodes(p.Plan));
    // A node's buffers include its children's: each statement's root counts them all, once.
    const blocks = (n: any): number => (n['Shared Hit Blocks'] ?? 0) + (n['Shared Read Blocks'] ?? 0);
    const buffers = nested.reduce((sum, p) => sum + blocks(p.Plan), 0);
    const seqScans = all.filter((n) => n['Node Type'] === 'Seq Scan').map((n) => n['Relation Name']);
    const mostRows = Math.max(...all.map((n) => (n['Actual Rows'] ?? 0) * (n['Actual Loops'] ?? 1)));
    if (process.env.LIMITS_PLAN_DEBUG) {
      for (const p of nested) {
        const line = nodes(p.Plan).map((n) => {
          const where = n['Index Name'] ?? n['Relation Name'] ?? '';
          return `${n['Node Type']}:${where}:${n['Actual Rows']}x${n['Actual Loops']}:b${blocks(n)}`;
        });
        process.stdout.write(`${String(p['Query Text']).slice(0, 50).replace(/\s+/g, ' ')} | ${line.join(' ')}\n`);
      }
    }
    return {
      claimed: rows.filter((r) => r.done === false).length,
      statements: nested.length,
      buffers,
      seqScans,
      mostRows,
    };
  }

  it('per-key limit with one key holding 200,000 jobs: probes per key, no scan of the key', async () => {
    const limits = limitsOf({ concurrencyPerKey: 2 }, 'plan')!;
    for (let i = 0; i < 3; i++) {
      const result = await claim('plan.keyed', limits, 5);
      process.stdout.write(`limited claim plan (per key, claim ${i + 1}): ${JSON.stringify(result)}\n`);
      expect(result.statements).toBeGreaterThan(3);
      expect(result.seqScans).toEqual([]);
      expect(result.mostRows).toBeLessThan(200);
      expect(result.buffers).toBeLessThan(FEW_BUFFERS);
    }
  });

  it('global concurrency and a rate limit over 200,000 keyless jobs: one ordered probe for the jobs it takes', async () => {
    const limits = limitsOf({ globalConcurrency: 50, rateLimit: { max: 1000, periodMs: 1000 } }, 'plan')!;
    for (let i = 0; i < 3; i++) {
      const result = await claim('plan.global', limits, 10);
      process.stdout.write(`limited claim plan (global + rate, claim ${i + 1}): ${JSON.stringify(result)}\n`);
      expect(result.claimed).toBe(10);
      expect(result.seqScans).toEqual([]);
      expect(result.mostRows).toBeLessThan(200);
      expect(result.buffers).toBeLessThan(FEW_BUFFERS);
    }
  });

  it('a limited type with nothing due: one probe, no count of the running jobs of other types', async () => {
    // 20,000 jobs of another type in flight: what a global limit's count of running jobs would read, row by row.
    await query(
      db.url,
      `INSERT INTO job_queue.jobs (type, payload, status, max_attempts, locked_at, locked_by, lock_token, attempt_count)
       SELECT 'plan.busy', '{}'::jsonb, 'processing', 3, now(), 'other', gen_random_uuid(), 1
       FROM generate_series(1, 20000)`,
    );
    await query(db.url, `ANALYZE job_queue.jobs`);
    const limits = limitsOf({ globalConcurrency: 3, rateLimit: { max: 10, periodMs: 1000 } }, 'plan')!;
    for (let i = 0; i < 3; i++) {
      const result = await claim('plan.idle', limits, 10);
      process.stdout.write(`limited claim plan (nothing due, claim ${i + 1}): ${JSON.stringify(result)}\n`);
      expect(result.claimed).toBe(0);
      expect(result.mostRows).toBeLessThan(200);
      expect(result.buffers).toBeLessThan(FEW_BUFFERS);
    }
  });
});
