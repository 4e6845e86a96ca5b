import type { QueryRunner } from 'typeorm';
import type { QueueTables } from '../sql/identifier';
import { claimLimitedFunction } from './claim-limited.function';
import type { JobQueueMigrationStep } from './job-queue-migration';

/**
 * Version 10: `claim_limited()` draws one lock token per call for the rows it claims, not one per row
 * (`claim-limited.function.ts`, `claimToken`), as the plain claim draws one per statement. Additive: the same
 * signature and the same results (a token is opaque to every caller, and each call's token is new), so instances
 * of any release since version 7 call it as before; `down` puts back the body of version 9.
 */
export const claimLimitedToken: JobQueueMigrationStep = {
  version: 10,
  title: 'ClaimLimitedToken',
  additive: true,

  async up(queryRunner: QueryRunner, t: QueueTables): Promise<void> {
    await queryRunner.query(claimLimitedFunction(t, 10));
  },

  async down(queryRunner: QueryRunner, t: QueueTables): Promise<void> {
    await queryRunner.query(claimLimitedFunction(t, 9));
  },
};
