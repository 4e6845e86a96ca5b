import { createTestDatabase, type TestDatabase } from '../../support/test-database';
import { SampleFleet } from './sample-process';

export interface FleetPerTest {
  /** The test's own database (the app migrates it at start). */
  readonly db: TestDatabase;
  /** The test's sample-app processes, all stopped after the test. */
  readonly fleet: SampleFleet | undefined;
}

/** For each test of the calling describe block: a database of its own and a fleet on it, torn down after. */
export function fleetPerTest(): FleetPerTest {
  const run = {} as { db: TestDatabase; fleet: SampleFleet | undefined };
  beforeEach(async () => {
    run.db = await createTestDatabase({ migrate: false });
    run.fleet = new SampleFleet(run.db.url);
  });
  afterEach(async () => {
    await run.fleet?.stopAll();
    run.fleet = undefined;
    await run.db?.drop();
  });
  return run;
}
