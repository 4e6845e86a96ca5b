import { statement } from './statement';

/** The chain's steps applied to this schema (run only when `find-tables` says the table exists). */
export const listSchemaVersions = statement(
  'list-schema-versions',
  (t) => `SELECT version, name, additive FROM ${t.schemaVersions} ORDER BY version`,
);
