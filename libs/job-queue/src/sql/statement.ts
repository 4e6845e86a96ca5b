import { MAX_IDENTIFIER_LENGTH, MAX_SCHEMA_IN_STATEMENT_NAME, type QueueTables } from './identifier';

/**
 * A SQL statement with a stable name: pg prepares a named statement once per connection and reuses the plan,
 * which saves a parse and plan on every claim and completion. The schema is part of the name because a
 * connection may serve queues in several schemas and one name must always mean one text; a long schema name is
 * replaced by its digest, since PostgreSQL tells names apart by their first 63 bytes only.
 */
export interface Statement {
  name: string;
  text: string;
}

export type StatementFactory = (tables: QueueTables) => Statement;

/**
 * The longest statement id: `jq:<key>:<id>` within 63 bytes for the longest key. PostgreSQL would cut a longer
 * name silently (two names alike in their first 63 bytes would then be one), and the driver complains on each prepare.
 */
export const MAX_STATEMENT_ID_LENGTH = MAX_IDENTIFIER_LENGTH - 'jq::'.length - MAX_SCHEMA_IN_STATEMENT_NAME;

export function statement(id: string, build: (t: QueueTables) => string): StatementFactory {
  if (id.length > MAX_STATEMENT_ID_LENGTH) {
    throw new Error(`Statement id "${id}" is longer than ${MAX_STATEMENT_ID_LENGTH} characters`);
  }
  return (t) => ({ name: `jq:${t.statementKey}:${id}`, text: build(t) });
}
