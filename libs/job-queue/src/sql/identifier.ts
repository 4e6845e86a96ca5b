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
  /** The NOTIFY channel of this schema's queue. */
  channel: string;
}

export function queueTables(schema: string): QueueTables {
  if (!isSafeIdentifier(schema)) {
    throw new Error(`Unsafe schema name ${JSON.stringify(schema)}`);
  }
  return {
    schema: `"${schema}"`,
    jobs: `"${schema}"."jobs"`,
    deadJobs: `"${schema}"."dead_jobs"`,
    channel: `${schema}_jobs`,
  };
}
