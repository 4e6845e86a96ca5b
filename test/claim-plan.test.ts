import { createTestDatabase, type TestDatabase } from './support/test-database';
import { query } from './support/sql';
import { backlogReaders, explainClaim } from './support/explain-claim';

/**
 * The claim's plan must not depend on statistics: with statistics made wrong on purpose, a claim of 10 out of a
 * million pending rows still reads the index in claim order and stops after its limit, in the custom plan and in
 * the generic plan a reused named statement gets, with the walk and with the one-level claim. Autovacuum is off for
 * the table, so nothing corrects them.
 */
describe('the claim plan cannot flip, whatever the statistics say', () => {
  const dbs: TestDatabase[] = [];
  /** A claim of 10 costs a few probes per row; reading the backlog costs tens of thousands of buffers. */
  const FEW_BUFFERS = 400;

  afterAll(async () => {
    for (const db of dbs) await db.drop();
  });

  async function tableWithWrongStatistics(analyzeWhen: string): Promise<string> {
    const db = await createTestDatabase();
    dbs.push(db);
    await query(db.url, `ALTER TABLE job_queue.jobs SET (autovacuum_enabled = false)`);
    await query(db.url, analyzeWhen);
    await query(db.url, `ANALYZE job_queue.jobs`);
    // A million due jobs of the claimed type, in an order unrelated to their position in the table.
    await query(
      db.url,
      `INSERT INTO job_queue.jobs (type, payload, status, priority, max_attempts, next_retry_at, created_at)
       SELECT 'plan.job', '{}', 'pending', 0, 3, now() - random() * interval '1 hour', now() - interval '1 hour'
       FROM generate_series(1, 1000000)`,
    );
    return db.url;
  }

  async function expectOrderedIndexWalk(url: string): Promise<void> {
    for (const generic of [false, true]) {
      const plan = await explainClaim(url, { types: ['plan.job'], limit: 10, generic });
      expect({ generic, claimed: plan.claimed, readers: backlogReaders(plan, 1) }).toEqual({
        generic,
        claimed: 10,
        readers: [],
      });
      expect(plan.nodes.some((n) => n['Index Name'] === 'jobs_available_idx')).toBe(true);
      // The rows the walk found are locked and updated there, by ctid: two TID scans, no primary-key lookup.
      expect(plan.nodes.filter((n) => n['Node Type'] === 'Tid Scan')).toHaveLength(2);
      expect(plan.nodes.some((n) => n['Index Name'] === 'jobs_pkey')).toBe(false);
      expect(plan.buffers).toBeLessThan(FEW_BUFFERS);
    }
    // The one-level claim (one pair, one level: these rows): one ordered range of the index, locked as it is read.
    for (const generic of [false, true]) {
      const plan = await explainClaim(url, { types: ['plan.job'], limit: 10, generic, oneLevel: true });
      expect({ generic, claimed: plan.claimed, readers: backlogReaders(plan, 1) }).toEqual({
        generic,
        claimed: 10,
        readers: [],
      });
      // Besides the range, the level probes (`LIMIT 1` each, index-only scans or index scans as the planner likes).
      const scans = plan.nodes.filter((n) => ['Index Scan', 'Index Only Scan'].includes(n['Node Type']));
      expect(new Set(scans.map((n) => n['Index Name']))).toEqual(new Set(['jobs_available_idx']));
      expect(scans.filter((n) => (n['Actual Rows'] as number) > 1).map((n) => n['Actual Rows'])).toEqual([10]);
      expect(plan.nodes.some((n) => n['Index Name'] === 'jobs_pkey')).toBe(false);
      expect(plan.buffers).toBeLessThan(FEW_BUFFERS);
    }
  }

  it('statistics taken while the table was empty, then 1,000,000 pending rows: an ordered index walk', async () => {
    const url = await tableWithWrongStatistics(`SELECT 1`);
    expect(await query(url, `SELECT reltuples FROM pg_class WHERE oid = 'job_queue.jobs'::regclass`)).toEqual([
      { reltuples: 0 },
    ]);
    await expectOrderedIndexWalk(url);
  }, 300_000);

  it('statistics 1,000 times too small, from rows of another type all due in the future: an ordered index walk', async () => {
    const url = await tableWithWrongStatistics(
      `INSERT INTO job_queue.jobs (type, payload, status, max_attempts, next_retry_at)
       SELECT 'plan.other', '{}', 'pending', 3, now() + interval '1 day' FROM generate_series(1, 1000)`,
    );
    await expectOrderedIndexWalk(url);
  }, 300_000);
});
