import { statement } from './statement';

/** Bounds how long the statements of the current transaction wait for a row lock ($1 ms), for that transaction only. */
export const setLockTimeout = statement(
  'set-lock-timeout',
  () => `SELECT set_config('lock_timeout', $1::int || 'ms', true)`,
);
