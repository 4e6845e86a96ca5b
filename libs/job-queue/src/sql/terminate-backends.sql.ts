import { statement } from './statement';

/**
 * Ends the given backends (transactions of handlers that ignored shutdown's abort), each only while it still runs
 * the transaction that began at the given time: a connection that has since gone back to the pool, idle or running
 * someone else's transaction, is left alone. The terminated transactions roll back and release their rows, so
 * shutdown can hand those jobs back instead of leaving them locked until the pool closes.
 */
export const terminateBackends = statement(
  'terminate-backends',
  () => `
SELECT pg_terminate_backend(a.pid) AS id
FROM pg_stat_activity a
JOIN unnest($1::int[], $2::timestamptz[]) AS b(pid, xact_start) ON a.pid = b.pid AND a.xact_start = b.xact_start`,
);
