import type { QueryRunner } from 'typeorm';
import type { QueueTables } from '../sql/identifier';
import type { JobQueueMigrationStep } from './job-queue-migration';

/**
 * Version 1: creates `jobs` and `dead_jobs` in one schema. Its statements are idempotent (IF NOT EXISTS) because it
 * was once the whole schema, run at every start; databases created then are at version 1 under the same name.
 */
export const createTables: JobQueueMigrationStep = {
  version: 1,
  title: 'CreateTables',
  // Nothing ran before it: no older code to keep working.
  additive: false,

  async up(queryRunner: QueryRunner, t: QueueTables): Promise<void> {
    await queryRunner.query(`CREATE SCHEMA IF NOT EXISTS ${t.schema}`);
    await queryRunner.query(`
      CREATE TABLE IF NOT EXISTS ${t.jobs} (
        id              uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
        queue           text        NOT NULL DEFAULT 'default',
        type            text        NOT NULL,
        payload         jsonb       NOT NULL,
        status          text        NOT NULL CHECK (status IN ('pending', 'processing')),
        priority        int         NOT NULL DEFAULT 0,
        attempt_count   int         NOT NULL DEFAULT 0,
        max_attempts    int         NOT NULL CHECK (max_attempts > 0),
        next_retry_at   timestamptz NOT NULL DEFAULT now(),
        locked_at       timestamptz,
        locked_by       text,
        lock_token      uuid,
        last_error      text,
        idempotency_key text,
        created_at      timestamptz NOT NULL DEFAULT now(),
        updated_at      timestamptz NOT NULL DEFAULT now()
      )`);
    // Claim: the ORDER BY of the claim query, column for column, over pending rows only. The scan walks the index
    // in claim order and stops after LIMIT rows, so a million-row backlog costs what a thousand does: no sort of
    // the backlog. priority leads because it decides order first; next_retry_at is the run-at, then created_at
    // keeps FIFO among equals. queue and type are filters checked on the rows the scan meets (most instances
    // serve every type they see); leading with them would force a sort across queues.
    await queryRunner.query(`
      CREATE INDEX IF NOT EXISTS jobs_claim_idx ON ${t.jobs} (priority DESC, next_retry_at, created_at)
      WHERE status = 'pending'`);
    // Recovery: processing rows by lease age. The partial predicate keeps the index as small as the in-flight set.
    await queryRunner.query(`
      CREATE INDEX IF NOT EXISTS jobs_rescue_idx ON ${t.jobs} (locked_at) WHERE status = 'processing'`);
    // Idempotency: unique while the job is live (completed jobs are deleted, dead ones leave for dead_jobs).
    await queryRunner.query(`
      CREATE UNIQUE INDEX IF NOT EXISTS jobs_idempotency_key_idx ON ${t.jobs} (idempotency_key)
      WHERE idempotency_key IS NOT NULL`);
    // A queue table churns: every job is one insert, one or more updates and one delete. Scale factors relative
    // to the table's size are meaningless when that size swings from zero to millions, so vacuum on a small
    // absolute count of dead rows, unthrottled (the table is small when healthy), and analyze often enough that
    // the planner keeps choosing the claim index.
    await queryRunner.query(`
      ALTER TABLE ${t.jobs} SET (
        autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 1000,
        autovacuum_vacuum_insert_scale_factor = 0.01, autovacuum_vacuum_insert_threshold = 1000,
        autovacuum_analyze_scale_factor = 0.02, autovacuum_analyze_threshold = 1000,
        autovacuum_vacuum_cost_delay = 0
      )`);
    await queryRunner.query(`
      CREATE TABLE IF NOT EXISTS ${t.deadJobs} (
        id             uuid        PRIMARY KEY,
        queue          text        NOT NULL,
        type           text        NOT NULL,
        payload        jsonb       NOT NULL,
        priority       int         NOT NULL,
        failure_reason text        NOT NULL,
        attempt_count  int         NOT NULL,
        max_attempts   int         NOT NULL,
        created_at     timestamptz NOT NULL,
        failed_at      timestamptz NOT NULL DEFAULT now(),
        snapshot       jsonb       NOT NULL
      )`);
    // Listing dead jobs newest first (scanned backwards); id breaks ties so paging is stable.
    await queryRunner.query(`
      CREATE INDEX IF NOT EXISTS dead_jobs_failed_at_idx ON ${t.deadJobs} (failed_at, id)`);
  },

  async down(queryRunner: QueryRunner, t: QueueTables): Promise<void> {
    // The chain's record goes with the first step: a schema reverted to nothing keeps no version.
    await queryRunner.query(`DROP TABLE IF EXISTS ${t.schemaVersions}`);
    await queryRunner.query(`DROP TABLE IF EXISTS ${t.deadJobs}`);
    await queryRunner.query(`DROP TABLE IF EXISTS ${t.jobs}`);
  },
};
