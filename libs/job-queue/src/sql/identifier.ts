import { createHash } from 'node:crypto';

/**
 * The one place where a configured identifier (the schema) enters SQL text. Everything else is a bind parameter.
 * Only lower-case plain identifiers are accepted, so quoting never changes meaning and no name needs escaping.
 */
const SAFE_IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

export function isSafeIdentifier(name: unknown): name is string {
  return typeof name === 'string' && SAFE_IDENTIFIER.test(name);
}

/** The quoted, qualified names of the queue's tables in one schema. */
export interface QueueTables {
  schema: string;
  jobs: string;
  deadJobs: string;
  /** The schema versions applied, one row per step of the migration chain (see migrations/). */
  schemaVersions: string;
  /** The live workers: one row per worker instance, renewed by its heartbeat. */
  workers: string;
  /** Recurring jobs: one row per schedule (see schedules/). */
  schedules: string;
  /** The paused flag of each queue ever paused or resumed. */
  queues: string;
  /** Completed and cancelled jobs kept while retention is on. */
  finishedJobs: string;
  /** The NOTIFY channel of this schema's queue. */
  channel: string;
  /** Names this schema's prepared statements (`jq:<key>:<statement>`); short, so that every name stays distinct. */
  statementKey: string;
}

/** PostgreSQL's identifier limit (NAMEDATALEN - 1), in bytes; our identifiers are ASCII, so in characters too. */
export const MAX_IDENTIFIER_LENGTH = 63;
/**
 * Longer schema names are replaced by a digest in statement names (see `statementKey`). Fixed: the limits' advisory
 * lock keys derive from `statementKey`, and instances of two releases must take the same lock.
 */
export const MAX_SCHEMA_IN_STATEMENT_NAME = 24;

export function queueTables(schema: string): QueueTables {
  if (!isSafeIdentifier(schema)) {
    throw new Error(`Unsafe schema name ${JSON.stringify(schema)}`);
  }
  return {
    schema: `"${schema}"`,
    jobs: `"${schema}"."jobs"`,
    deadJobs: `"${schema}"."dead_jobs"`,
    schemaVersions: `"${schema}"."schema_versions"`,
    workers: `"${schema}"."workers"`,
    schedules: `"${schema}"."schedules"`,
    queues: `"${schema}"."queues"`,
    finishedJobs: `"${schema}"."finished_jobs"`,
    channel: notifyChannel(schema),
    statementKey: schema.length <= MAX_SCHEMA_IN_STATEMENT_NAME ? schema : digest(schema, 16),
  };
}

/**
 * `<schema>_jobs`, or, when that would pass 63 characters (a schema of 59 or more), the schema's first 45
 * characters, a digest of the whole name and `_jobs`: 63 characters, the same on every instance, distinct per
 * schema. Why: LISTEN silently cuts a longer channel to 63 characters while pg_notify refuses it, so workers would
 * never be woken and a notifying insert would fail.
 */
function notifyChannel(schema: string): string {
  const plain = `${schema}_jobs`;
  if (plain.length <= MAX_IDENTIFIER_LENGTH) return plain;
  return `${schema.slice(0, 45)}_${digest(schema, 12)}_jobs`;
}

function digest(text: string, length: number): string {
  return createHash('sha256').update(text).digest('hex').slice(0, length);
}
