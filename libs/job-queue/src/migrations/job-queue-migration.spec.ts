import { JOB_QUEUE_MIGRATION_CHAIN } from './index';
import { migrationName } from './job-queue-migration';

describe('the migration chain', () => {
  it('numbers its steps 1, 2, 3… in order, with no gap', () => {
    expect(JOB_QUEUE_MIGRATION_CHAIN.map((step) => step.version)).toEqual(JOB_QUEUE_MIGRATION_CHAIN.map((_, i) => i + 1));
  });

  it('keeps the name version 1 was recorded under before the chain was numbered', () => {
    expect(migrationName({ version: 1, title: 'CreateTables' }, 'job_queue')).toBe('CreateJobQueueTables1764288000000');
    expect(migrationName({ version: 1, title: 'CreateTables' }, 'billing')).toBe('CreateJobQueueTables_billing_1764288000000');
  });

  it('names later steps by number and title, per schema, with timestamps that sort in chain order', () => {
    const name = migrationName({ version: 2, title: 'ClaimIndex' }, 'job_queue');
    expect(name).toBe('JobQueue0002ClaimIndex1764288001000');
    expect(migrationName({ version: 2, title: 'ClaimIndex' }, 'billing')).toBe('JobQueue0002ClaimIndex_billing_1764288001000');
    const timestamps = [1, 2, 3, 12].map((version) => Number(migrationName({ version, title: 'X' }, 'job_queue').slice(-13)));
    expect(timestamps).toEqual([...timestamps].sort((a, b) => a - b));
  });
});
