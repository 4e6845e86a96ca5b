import type { QueryRunner } from 'typeorm';
import type { QueueTables } from '../sql/identifier';
import type { JobQueueMigrationStep } from './job-queue-migration';

/**
 * Version 8: `jobs.trace_context`, the W3C trace context (traceparent, tracestate) of the span that enqueued the job,
 * so that every attempt, on any instance, retries and recovered attempts included, joins the enqueuer's trace
 * (see `tracing/trace-context.ts`). Null when no span was active: an untraced app stores nothing.
 * Additive: a nullable column without a default is a catalog change only (no table rewrite, no long lock), and older
 * releases neither write it (their rows carry no context) nor read it. `dead_jobs` needs no column: its `snapshot`
 * holds the whole row, this column included.
 */
export const traceContext: JobQueueMigrationStep = {
  version: 8,
  title: 'TraceContext',
  additive: true,

  async up(queryRunner: QueryRunner, t: QueueTables): Promise<void> {
    await queryRunner.query(`ALTER TABLE ${t.jobs} ADD COLUMN IF NOT EXISTS trace_context jsonb`);
  },

  async down(queryRunner: QueryRunner, t: QueueTables): Promise<void> {
    await queryRunner.query(`ALTER TABLE ${t.jobs} DROP COLUMN IF EXISTS trace_context`);
  },
};
