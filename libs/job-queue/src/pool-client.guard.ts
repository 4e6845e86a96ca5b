import type { Pool, PoolClient } from 'pg';

const GUARDED = Symbol('job-queue:pool-client-guard');

type Guardable = { [GUARDED]?: true };

/**
 * Gives every client of `pool` an 'error' listener for its whole life, so that no connection error can end the
 * process.
 *
 * Why: pg-pool takes its own listener off a client while it is checked out, and whoever holds the client (TypeORM's
 * query runner, `pool.connect()` callers) adds theirs only when its promise continues. When a backend is terminated
 * just after its connection came up, the FATAL error arrives in the same socket read as the connection's first
 * ReadyForQuery: pg hands the client out and emits the error in one synchronous pass, before any promise continues,
 * on a client with no listener, and Node throws it (`Unhandled 'error' event … 57P01`). A listener added when the
 * pool hands the client out ('acquire', emitted before pg-pool drops its own) closes that window and any like it.
 * Nothing is lost by it: the dead client is no longer queryable, so its holder's next query fails and the pool
 * discards it on release; an idle client's error still reaches the pool's own listener.
 */
export function guardPoolClients(pool: Pool, onError: (error: Error) => void): void {
  const marked = pool as unknown as Guardable;
  if (marked[GUARDED]) return; // one guard per pool, however many queues share it
  marked[GUARDED] = true;
  pool.on('acquire', (client: PoolClient) => {
    const guardable = client as unknown as Guardable;
    if (guardable[GUARDED]) return;
    guardable[GUARDED] = true;
    client.on('error', onError);
  });
}
