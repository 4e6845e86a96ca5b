import type { DataSource } from 'typeorm';
import { JobRepository, type Lease } from '@app/job-queue/internal';
import { createTestDatabase, type TestDatabase } from './support/test-database';
import { query } from './support/sql';
import { openRepository } from './support/queue-probes';

/**
 * The claim is a named statement planned once per connection, not once per execution. Its walk is large enough that
 * planning it cost more than running it on an idle table (about 1 ms of the server's CPU, more under load, on every
 * claim: most of the idle pickup latency). PostgreSQL switches a named statement to its generic plan after five
 * custom plans only when the generic plan is estimated no dearer; the claim's parameters are hidden from the planner
 * so that it is; the other statements of an idle worker's cycle likewise. Read from `pg_prepared_statements` on the
 * repository's one connection: counts, not times. PostgreSQL 13 keeps no such counts (they came with 14; the choice
 * between custom and generic plans is the same code in both): there the cycle itself is checked, and that the
 * server is one without the counts.
 */
describe('the statements of the claim cycle reuse their generic plan on a connection', () => {
  let db: TestDatabase;
  let opened: { repository: JobRepository; dataSource: DataSource };
  /** Executions per statement: five custom plans, then the generic plan for every one after. */
  const EXECUTIONS = 12;

  beforeAll(async () => {
    db = await createTestDatabase();
    // One connection: every execution, and the look at its prepared statements, on the same session.
    opened = await openRepository(db.url, 1);
  });

  afterAll(async () => {
    await opened?.dataSource.destroy();
    await db?.drop();
  });

  const addJob = () =>
    query(
      db.url,
      `INSERT INTO job_queue.jobs (type, payload, status, max_attempts) VALUES ('reuse.job', '{}', 'pending', 3)`,
    );

  /** The plan counts of the statement named `…:suffix`, or null on a server that keeps none (before 14). */
  async function plansOf(repository: JobRepository, suffix: string) {
    const version = await repository.pool.query<{ num: string }>(`SELECT current_setting('server_version_num') AS num`);
    if (Number(version.rows[0].num) < 140000) return null;
    const rows = (
      await repository.pool.query<{ name: string; generic_plans: string; custom_plans: string }>(
        `SELECT name, generic_plans, custom_plans FROM pg_prepared_statements WHERE name LIKE '%' || $1`,
        [`:${suffix}`],
      )
    ).rows;
    expect(rows).toHaveLength(1);
    return { generic: Number(rows[0].generic_plans), custom: Number(rows[0].custom_plans) };
  }

  /** Where no counts were read, it is because the server has none: `pg_prepared_statements` lacks the columns. */
  async function expectServerWithoutPlanCounts(): Promise<void> {
    const columns = await opened.repository.pool.query<{ column_name: string }>(
      `SELECT column_name FROM information_schema.columns
       WHERE table_schema = 'pg_catalog' AND table_name = 'pg_prepared_statements' AND column_name LIKE '%_plans'`,
    );
    expect(columns.rows).toEqual([]);
  }

  /**
   * EXECUTIONS times: claims one job, completes it while claiming the next, completes that one alone, and asks
   * when the next job is due: the statements of an idle worker's cycle. Serving one type, the claims are the
   * one-level claim's; serving two, the walk's.
   */
  async function claimCycles(repository: JobRepository, types = ['reuse.job']): Promise<void> {
    for (let i = 0; i < EXECUTIONS; i += 1) {
      await addJob();
      const [job] = await repository.claimAvailable(['default'], types, 10, 'reuse');
      expect(job).toBeDefined();
      await addJob();
      const { jobs, completed } = await repository.completeAndClaim(
        [{ id: job.id, token: job.lock_token, result: { i } }],
        ['default'],
        types,
        10,
        'reuse',
      );
      expect([jobs.length, completed.has(job.id)]).toEqual([1, true]);
      const lease: Lease = { id: jobs[0].id, token: jobs[0].lock_token };
      await repository.completeMany([lease]);
      await repository.nextDueInMs(['default'], types);
    }
  }

  it('claim, complete-and-claim, complete and next-due: five custom plans, then the generic plan', async () => {
    await claimCycles(opened.repository);
    await claimCycles(opened.repository, ['reuse.job', 'reuse.other']);
    for (const name of [
      'claim-one-level',
      'complete-claim-one-level',
      'claim-available',
      'complete-and-claim',
      'complete-many',
      'next-due',
    ]) {
      const plans = await plansOf(opened.repository, name);
      const executions = ['complete-many', 'next-due'].includes(name) ? 2 * EXECUTIONS : EXECUTIONS;
      if (plans) expect({ name, ...plans }).toEqual({ name, custom: 5, generic: executions - 5 });
      else await expectServerWithoutPlanCounts();
    }
  });

  it('with retention on, complete-and-claim-retained too', async () => {
    const retained = new JobRepository(opened.dataSource, 'job_queue', { keepFinished: true, maxResultBytes: 1000 });
    await claimCycles(retained);
    await claimCycles(retained, ['reuse.job', 'reuse.other']);
    for (const name of ['complete-claim-one-level-retained', 'complete-and-claim-retained']) {
      const plans = await plansOf(retained, name);
      if (plans) expect({ name, ...plans }).toEqual({ name, custom: 5, generic: EXECUTIONS - 5 });
      else await expectServerWithoutPlanCounts();
    }
    const plans = await plansOf(retained, 'complete-many-retained');
    if (plans) expect(plans).toEqual({ custom: 5, generic: 2 * EXECUTIONS - 5 });
  });
});
