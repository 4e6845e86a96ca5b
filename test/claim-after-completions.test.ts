import { Injectable, type INestApplicationContext } from '@nestjs/common';
import { JOB_QUEUE_METRICS as METRIC, JobHandler, JobProducer } from '@app/job-queue';
import { JobRepository } from '@app/job-queue/internal';
import { CapturingLogger } from './support/capturing-logger';
import { createTestDatabase, type TestDatabase } from './support/test-database';
import { startTestApp } from './support/test-app';
import { gate, metricSample } from './support/queue-probes';
import { waitFor } from './support/wait-for';

const TYPE = 'after.completions';
const ran: string[] = [];
let release = gate();

@Injectable()
class Handlers {
  /** The job named `first` runs until the test opens the gate. */
  @JobHandler(TYPE)
  async run(payload: { name: string }) {
    ran.push(payload.name);
    if (payload.name === 'first') await release.promise;
  }
}

/**
 * A completion rides on the next claim. When the one-level claim finds a second priority level, its completions have
 * committed and the walk claims in a statement of its own: if that one fails (a connection lost between the two),
 * the jobs completed are still counted as completed, not taken for lost leases.
 */
describe('a claim that fails after its completions committed', () => {
  let db: TestDatabase;
  let app: INestApplicationContext;
  const logger = new CapturingLogger();

  beforeAll(async () => {
    db = await createTestDatabase();
    // One slot and no prefetch: the first job's completion goes with the claim its freed slot prompts.
    app = await startTestApp({ connectionUrl: db.url, concurrency: 1, pollIntervalMs: 200 }, [Handlers], logger);
  });

  afterAll(async () => {
    release.open();
    await app?.close();
    await db?.drop();
  });

  it('counts the completed jobs as completed and claims again', async () => {
    const producer = app.get(JobProducer);
    release = gate();
    await producer.enqueue(TYPE, { name: 'first' });
    await producer.enqueue(TYPE, { name: 'second' });
    await waitFor('the first job running', () => ran.includes('first'));
    // A second priority level for the pair: the one-level claim that carries the first job's completion finds it.
    await producer.enqueue(TYPE, { name: 'urgent' }, { priority: 5 });

    // The walk that claims instead fails once, as a connection lost between the two statements would make it.
    const repository = app.get(JobRepository);
    const completeAndClaim = repository.completeAndClaim.bind(repository);
    const claimAvailable = repository.claimAvailable.bind(repository);
    let carryingCompletions = false;
    let failed = 0;
    jest.spyOn(repository, 'completeAndClaim').mockImplementation(async (leases, ...rest) => {
      carryingCompletions = leases.length > 0;
      try {
        return await completeAndClaim(leases, ...rest);
      } finally {
        carryingCompletions = false;
      }
    });
    jest.spyOn(repository, 'claimAvailable').mockImplementation(async (...args) => {
      if (carryingCompletions && failed++ === 0) throw new Error('Connection terminated unexpectedly');
      return claimAvailable(...args);
    });

    const completed = () => metricSample(METRIC.completed, { type: TYPE });
    const lost = () => metricSample(METRIC.leaseLost, { type: TYPE });
    const [completedBefore, lostBefore] = [await completed(), await lost()];
    release.open();
    await waitFor('every job ran', () => ran.length === 3);
    await waitFor('every job counted', async () => (await completed()) === completedBefore + 3);

    expect(failed).toBeGreaterThan(0);
    expect(ran).toEqual(['first', 'urgent', 'second']);
    expect(await lost()).toBe(lostBefore);
    expect(logger.warnings.filter((w) => w.includes('lost its lease'))).toEqual([]);
  });
});
