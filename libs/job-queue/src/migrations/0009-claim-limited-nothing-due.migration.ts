import type { QueryRunner } from 'typeorm';
import type { QueueTables } from '../sql/identifier';
import { claimLimitedFunction } from './claim-limited.function';
import type { JobQueueMigrationStep } from './job-queue-migration';

/**
 * Version 9: `claim_limited()` returns at once when no job of its type is due, before its lock and its counts
 * (`claim-limited.function.ts`, `nothingDueGuard`). Additive: the same signature and the same results, so instances of
 * any release since version 7 call it as before; `down` puts back the body of version 7.
 */
export const claimLimitedNothingDue: JobQueueMigrationStep = {
  version: 9,
  title: 'ClaimLimitedNothingDue',
  additive: true,

  async up(queryRunner: QueryRunner, t: QueueTables): Promise<void> {
    await queryRunner.query(claimLimitedFunction(t, 9));
  },

  async down(queryRunner: QueryRunner, t: QueueTables): Promise<void> {
    await queryRunner.query(claimLimitedFunction(t, 7));
  },
};
