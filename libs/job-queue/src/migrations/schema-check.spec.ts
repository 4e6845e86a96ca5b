import { JobQueueSchemaMissingError, JobQueueSchemaTooNewError } from '../errors/job-queue.errors';
import { JOB_QUEUE_MIGRATION_CHAIN, JOB_QUEUE_SCHEMA_VERSION } from './index';
import { migrationName } from './job-queue-migration';
import { checkSchemaVersion } from './schema-check';

const schema = 'job_queue';
const names = JOB_QUEUE_MIGRATION_CHAIN.map((step) => migrationName(step, schema));
const allApplied = JOB_QUEUE_MIGRATION_CHAIN.map((step, i) => ({
  version: step.version,
  name: names[i],
  additive: step.additive,
}));

function failure(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a failure');
}

describe('the start-up schema check', () => {
  it('accepts a schema with every step of the chain', () => {
    expect(checkSchemaVersion({ tablesPresent: true, versions: allApplied }, { schema })).toEqual({
      version: JOB_QUEUE_SCHEMA_VERSION,
      ahead: [],
    });
  });

  it('on an empty database, names every migration and says how to run them when the queue has its own DataSource', () => {
    const error = failure(() => checkSchemaVersion({ tablesPresent: false, versions: [] }, { schema }));
    expect(error).toBeInstanceOf(JobQueueSchemaMissingError);
    expect((error as JobQueueSchemaMissingError).missing).toEqual(names);
    for (const name of names) expect(error.message).toContain(name);
    expect(error.message).toContain('runMigrations: true');
    expect(error.message).toContain("createJobQueueMigrations('job_queue')");
  });

  it('takes the tables of a database migrated before the chain for version 1, and names only the later steps', () => {
    const error = failure(() => checkSchemaVersion({ tablesPresent: true, versions: [] }, { schema }));
    expect((error as JobQueueSchemaMissingError).missing).toEqual(names.slice(1));
  });

  it('tells an app whose DataSource lists the migrations without running them to set migrationsRun', () => {
    const error = failure(() =>
      checkSchemaVersion({ tablesPresent: false, versions: [] }, { schema, listed: names, migrationsRun: false }),
    );
    expect(error.message).toContain('listing does not run them');
    expect(error.message).toContain('migrationsRun: true');
  });

  it('tells an app whose DataSource does not list them to add them', () => {
    const error = failure(() =>
      checkSchemaVersion(
        { tablesPresent: false, versions: [] },
        { schema: 'billing', listed: ['AppInit1700000000000'] },
      ),
    );
    expect(error.message).toContain("add ...createJobQueueMigrations('billing')");
    expect(error.message).toContain('"billing"');
  });

  it('accepts a database ahead of this code when every newer step is additive', () => {
    const newer = { version: JOB_QUEUE_SCHEMA_VERSION + 1, name: 'JobQueue9999Future1764299999000', additive: true };
    expect(checkSchemaVersion({ tablesPresent: true, versions: [...allApplied, newer] }, { schema })).toEqual({
      version: newer.version,
      ahead: [newer],
    });
  });

  it('refuses a database ahead of this code by a step that is not additive, naming it', () => {
    const additive = { version: JOB_QUEUE_SCHEMA_VERSION + 1, name: 'JobQueueAdditive', additive: true };
    const breaking = { version: JOB_QUEUE_SCHEMA_VERSION + 2, name: 'JobQueueBreaking', additive: false };
    const error = failure(() =>
      checkSchemaVersion({ tablesPresent: true, versions: [...allApplied, additive, breaking] }, { schema }),
    );
    expect(error).toBeInstanceOf(JobQueueSchemaTooNewError);
    expect((error as JobQueueSchemaTooNewError).breaking).toEqual(['JobQueueBreaking']);
    expect(error.message).toContain(`up to version ${JOB_QUEUE_SCHEMA_VERSION}`);
  });
});
