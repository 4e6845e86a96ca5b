/**
 * Serialises migrations across instances: a transaction-scoped advisory lock, keyed by a name (the queue's schema
 * for its own migrations, the migrations table for `runMigrationsExclusively`), released by the commit. Two-key
 * form: the first key marks the lock as this library's.
 */
export const MIGRATION_LOCK_SQL = `SELECT pg_advisory_xact_lock(736401, hashtext($1))`;
