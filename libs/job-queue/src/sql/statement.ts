import type { QueueTables } from './identifier';

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

export function statement(id: string, build: (t: QueueTables) => string): StatementFactory {
  return (t) => ({ name: `jq:${t.statementKey}:${id}`, text: build(t) });
}
