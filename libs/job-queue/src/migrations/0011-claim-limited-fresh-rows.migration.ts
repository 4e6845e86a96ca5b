import type { QueryRunner } from 'typeorm';
import type { QueueTables } from '../sql/identifier';
import { claimLimitedFunction } from './claim-limited.function';
import type { JobQueueMigrationStep } from './job-queue-migration';

/**
 * Version 11: `claim_limited()` returns the claimed rows' `scheduled_for`, `snooze_count` and `trace_context` as it
 * claimed them, after its lock (the calling statement's join read them before the lock wait, stale or missing),
 * takes what fell due while it waited, and visits only the keys that have a due job in the served queues
 * (`claim-limited.function.ts`, version 11). The function returns more columns, and a function's result type
 * cannot be replaced in place: it is dropped and created again, in the step's transaction. Additive: the same
 * arguments, and the columns of version 10 with the same names, which is all a release since version 7 reads by;
 * `down` puts back the function of version 10.
 */
export const claimLimitedFreshRows: JobQueueMigrationStep = {
  version: 11,
  title: 'ClaimLimitedFreshRows',
  additive: true,

  async up(queryRunner: QueryRunner, t: QueueTables): Promise<void> {
    await queryRunner.query(`DROP FUNCTION IF EXISTS ${t.schema}.claim_limited`);
    await queryRunner.query(claimLimitedFunction(t, 11));
  },

  async down(queryRunner: QueryRunner, t: QueueTables): Promise<void> {
    await queryRunner.query(`DROP FUNCTION IF EXISTS ${t.schema}.claim_limited`);
    await queryRunner.query(claimLimitedFunction(t, 10));
  },
};
