import { statement } from './statement';

/** Bounds how long the statements of the current transaction wait for a row lock ($1 ms), for that transaction only. */
export const setLockTimeout = statement(
  'set-lock-timeout',
  () => `SELECT set_config('lock_timeout', $1::int || 'ms', true)`,
);

/**
 * The same bound for the rest of the session ($1 ms; '0' lifts it): for statements that cannot run inside a
 * transaction (`REINDEX … CONCURRENTLY`), whose connection then resets it before it returns to the pool.
 */
export const setSessionLockTimeout = statement(
  'set-session-lock-timeout',
  () => `SELECT set_config('lock_timeout', $1::int || 'ms', false)`,
);
