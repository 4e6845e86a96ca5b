'use strict';
// The contract every system under test implements. One adapter instance serves exactly one run of one scenario,
// in a child process of its own, against a database created for that run (see ../run-one.js).
//
// Lifecycle, as the scenarios call it:
//   setup(dbUrl, { concurrency })      install the schema (migrations) and open the producer side; no worker yet
//   insertMany(n) | enqueue()          produce jobs (bulk before a drain, one at a time for steady and latency)
//   startWorker({ concurrency, onJob }) start consuming; resolves once the worker is running
//   countUnfinished()                  jobs still in the database that are not finished (pending, locked, active)
//   stop()                             stop the worker (graceful, bounded); idempotent
//   teardown()                         close every pool and client; idempotent; called even after a failure

/**
 * @typedef {object} SystemAdapter
 * @property {string} name  variant label shown in the table, e.g. 'graphile-fast'
 * @property {string} system  family used in the database name and BENCH_ONLY, e.g. 'graphile'
 * @property {(dbUrl: string, opts: { concurrency: number, scenario: string }) => Promise<void>} setup
 *   Prepare the fresh database and the producer side. Throw `NotReady` when the system cannot run yet.
 * @property {(n: number) => Promise<void>} insertMany
 *   Insert n no-op jobs with the system's own bulk API (not timed).
 * @property {string} schema  the schema of the system's tables (the idle-transaction scenario reads their dead tuples)
 * @property {(payload?: object) => Promise<void>} enqueue
 *   Enqueue one no-op job (payload `{}` unless given); the promise resolves once the insert has committed.
 * @property {(opts: { concurrency: number, onJob: (payload: unknown) => void }) => Promise<void>} startWorker
 *   Start one worker process-side consumer with that concurrency. The no-op handler calls `onJob(payload)`
 *   synchronously as its first statement and then returns (resolves).
 * @property {() => Promise<number>} countUnfinished
 *   Count the jobs that are not finished in the database. A drain is done when the handler ran n times and this
 *   returns 0 (so batched completions are counted in the time).
 * @property {() => Promise<void>} stop
 * @property {() => Promise<void>} teardown
 * @property {BacklogProbe} [backlog]  optional; only systems that expose it run the `backlog` scenario
 */

/**
 * @typedef {object} BacklogProbe
 * @property {(n: number) => Promise<void>} fill
 *   Add n pending no-op jobs in one statement (`INSERT … SELECT … FROM generate_series(1, n)`).
 * @property {(n: number) => Promise<void>} [fillOther]
 *   Add n pending jobs of a type the claim does not serve, due before every job `fill` adds (ahead of them in a
 *   claim order that ignores the type). Optional: without it the "of another type" row is left empty.
 * @property {() => Promise<void>} [clear]  remove every job (needed with `fillOther`)
 * @property {(limit: number) => Promise<number>} claimOnce
 *   Run the system's real claim statement once for up to `limit` jobs; resolves to the number claimed.
 *   The harness times it. Claimed jobs may stay claimed (no worker runs in this scenario).
 */

/**
 * @typedef {object} SystemVariant
 * @property {string} name
 * @property {string} system
 * @property {string} settings  one line describing the settings, printed under the table
 * @property {() => SystemAdapter} create
 */

/**
 * Thrown by an adapter that cannot run yet; the harness prints a line and skips. `scope: 'system'` (default) skips
 * the system for the rest of the bench; `scope: 'scenario'` skips only the scenario that threw it.
 */
class NotReady extends Error {
  constructor(message, { scope = 'system' } = {}) {
    super(message);
    this.name = 'NotReady';
    this.scope = scope;
  }
}

/** The handler type every system registers. */
const JOB_TYPE = 'bench_noop';

module.exports = { NotReady, JOB_TYPE };
