import type { QueueTables } from './identifier';

/**
 * A SQL statement with a stable name: pg prepares a named statement once per connection and reuses the plan,
 * which saves a parse and plan on every claim and completion. The schema is part of the name because a
 * connection may serve queues in several schemas and one name must always mean one text.
 */
export interface Statement {
  name: string;
  text: string;
}

export type StatementFactory = (tables: QueueTables) => Statement;

export function statement(id: string, build: (t: QueueTables) => string): StatementFactory {
  return (t) => ({ name: `jq:${t.channel}:${id}`, text: build(t) });
}
