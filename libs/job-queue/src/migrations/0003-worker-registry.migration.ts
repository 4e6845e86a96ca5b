import type { QueryRunner } from 'typeorm';
import type { QueueTables } from '../sql/identifier';
import type { JobQueueMigrationStep } from './job-queue-migration';

/**
 * Version 3: `workers`, the live-worker registry. Each worker instance keeps one row (the queues and types it
 * serves) alive through its heartbeat, so that any instance can tell pending jobs that no live worker serves.
 * Additive: a new table that older releases never read, so they keep running beside it during a rolling deploy
 * (they do not register, so while they run their types read as unserved: docs/operations.md).
 */
export const workerRegistry: JobQueueMigrationStep = {
  version: 3,
  title: 'WorkerRegistry',
  additive: true,

  async up(queryRunner: QueryRunner, t: QueueTables): Promise<void> {
    // expires_at is written by the worker from its own lease (now() + leaseMs): a worker is live by the same rule
    // as its jobs' leases, whatever lease other instances use. A few rows, one per instance, rewritten every
    // leaseMs / 3: no index beyond the key is worth its upkeep; readers scan the whole table.
    await queryRunner.query(`
      CREATE TABLE IF NOT EXISTS ${t.workers} (
        instance_id  text        PRIMARY KEY,
        queues       text[]      NOT NULL,
        types        text[]      NOT NULL,
        concurrency  int         NOT NULL,
        started_at   timestamptz NOT NULL DEFAULT now(),
        last_seen_at timestamptz NOT NULL DEFAULT now(),
        expires_at   timestamptz NOT NULL
      )`);
  },

  async down(queryRunner: QueryRunner, t: QueueTables): Promise<void> {
    await queryRunner.query(`DROP TABLE IF EXISTS ${t.workers}`);
  },
};
