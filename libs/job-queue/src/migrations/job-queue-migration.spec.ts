import { JOB_QUEUE_MIGRATION_CHAIN, JOB_QUEUE_SCHEMA_VERSION } from './index';
import { migrationName } from './job-queue-migration';

describe('the migration chain', () => {
  it('numbers its steps from 1, in increasing order, and needs the last one', () => {
    const versions = JOB_QUEUE_MIGRATION_CHAIN.map((step) => step.version);
    expect(versions[0]).toBe(1);
    expect(versions).toEqual([...new Set(versions)].sort((a, b) => a - b));
    expect(JOB_QUEUE_SCHEMA_VERSION).toBe(versions[versions.length - 1]);
  });

  it('says of every step whether older code keeps working after it', () => {
    for (const step of JOB_QUEUE_MIGRATION_CHAIN) expect(typeof step.additive).toBe('boolean');
  });

  it('keeps the name version 1 was recorded under before the chain was numbered', () => {
    expect(migrationName({ version: 1, title: 'CreateTables' }, 'job_queue')).toBe('CreateJobQueueTables1764288000000');
    expect(migrationName({ version: 1, title: 'CreateTables' }, 'billing')).toBe(
      'CreateJobQueueTables_billing_1764288000000',
    );
  });

  it('names later steps by number and title, per schema, with timestamps that sort in chain order', () => {
    const name = migrationName({ version: 2, title: 'ClaimIndex' }, 'job_queue');
    expect(name).toBe('JobQueue0002ClaimIndex1764288001000');
    expect(migrationName({ version: 2, title: 'ClaimIndex' }, 'billing')).toBe(
      'JobQueue0002ClaimIndex_billing_1764288001000',
    );
    const timestamps = [1, 2, 3, 12].map((version) =>
      Number(migrationName({ version, title: 'X' }, 'job_queue').slice(-13)),
    );
    expect(timestamps).toEqual([...timestamps].sort((a, b) => a - b));
  });
});
