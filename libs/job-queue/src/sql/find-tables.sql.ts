import { statement } from './statement';

/**
 * Whether the queue's tables exist, and whether the schema records its versions (databases migrated before the
 * migration chain do not): the start-up check that turns a missing migration into a clear message.
 */
export const findTables = statement(
  'find-tables',
  (t) => `
SELECT to_regclass('${t.jobs}') IS NOT NULL AND to_regclass('${t.deadJobs}') IS NOT NULL AS present,
       to_regclass('${t.schemaVersions}') IS NOT NULL AS versioned`,
);
