import { statement } from './statement';

/**
 * Ends the given backends (transactions of handlers that ignored shutdown's abort). Their transactions roll back and
 * release their rows, so shutdown can hand those jobs back instead of leaving them locked until the pool closes.
 */
export const terminateBackends = statement(
  'terminate-backends',
  () => `SELECT pg_terminate_backend(pid) AS id FROM unnest($1::int[]) AS pid`,
);
