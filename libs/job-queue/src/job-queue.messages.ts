/** Every user-facing message of the library, so that wording stays consistent and greppable. */
export const messages = {
  invalidOption: (name: string, reason: string) => `JobQueueModule option "${name}" ${reason}`,
  invalidField: (field: string, reason: string) => `Invalid job ${field}: ${reason}`,
  invalidScheduleField: (field: string, reason: string) => `Invalid schedule ${field}: ${reason}`,
  idempotencyKeyUnresolvedRolledBack: (key: string) =>
    `Idempotency key ${JSON.stringify(key)}: its job was neither found nor inserted after several tries (replaced ` +
    `concurrently again and again, or dropped by a trigger); nothing of this call was written`,
  idempotencyKeyUnresolved: (key: string, others: number) =>
    `Idempotency key ${JSON.stringify(key)}: its job was neither found nor inserted after several tries (replaced ` +
    `concurrently again and again, or dropped by a trigger); nothing was written for it` +
    (others > 0 ? `, the other ${others} jobs of this call were` : ''),
  duplicateHandler: (type: string, first: string, second: string) =>
    `Two handlers for job type "${type}": ${first} and ${second}. A type must have exactly one handler.`,
  invalidHandlerType: (type: unknown, where: string) =>
    `@JobHandler(${JSON.stringify(type)}) on ${where}: the type must match ^[A-Za-z0-9_.:-]{1,255}$`,
  noHandler: (type: string) => `No handler for job type "${type}" on this instance`,
  // One line per notable attempt event, all shaped `Job <id> (<type>) attempt <n>[/<max>] <event>` so that one
  // pattern finds every line of a job. Successful attempts log nothing: the metrics count them.
  jobRetrying: (id: string, type: string, attempt: number, max: number, delayMs: number, reason: string) =>
    `Job ${id} (${type}) attempt ${attempt}/${max} failed, retry in ${delayMs} ms: ${reason}`,
  jobPostponed: (id: string, type: string, attempt: number, delayMs: number, reason: string) =>
    `Job ${id} (${type}) attempt ${attempt} could not start (${reason}); not counted as an attempt, retry in ${delayMs} ms`,
  jobDeadLettered: (id: string, type: string, attempt: number, max: number, reason: string) =>
    `Job ${id} (${type}) attempt ${attempt}/${max} failed, dead-lettered: ${reason}`,
  jobRescued: (id: string, type: string, attempt: number, max: number) =>
    `Job ${id} (${type}) attempt ${attempt}/${max} lease expired (its instance stopped or stalled); back to pending`,
  jobRescuedToDeadLetter: (id: string, type: string, attempt: number, max: number) =>
    `Job ${id} (${type}) attempt ${attempt}/${max} lease expired on its last attempt; dead-lettered`,
  leaseLost: (id: string, type: string, attempt: number, step: string) =>
    `Job ${id} (${type}) attempt ${attempt} lost its lease at ${step}: another instance recovered it; result discarded`,
  invalidBackoff: (type: string, source: 'handler' | 'module', reason: string) =>
    `The ${source === 'handler' ? 'handler' : 'module'} backoff used for job type "${type}" ${reason}; ` +
    `its jobs are retried with the ${source === 'handler' ? "module's" : 'default linear'} backoff instead ` +
    `(said once per type)`,
  snoozeLimit: (max: number) =>
    `snoozed more than maxSnoozes (${max}) times: the handler keeps snoozing, so the job is dead-lettered`,
  progressTooLarge: (bytes: number, max: number) => `is ${bytes} bytes of JSON, over the limit of ${max}`,
  progressInTransaction: () =>
    `is not written for a transactional handler: its transaction holds the job's row until it deletes the job, ` +
    `so no other session could read it`,
  hookFailed: (hook: string, event: string, id: string, type: string, reason: string) =>
    `Job event hook ${hook} failed on ${event} of job ${id} (${type}); the job is not affected: ${reason}`,
  invalidHook: (where: string, reason: string) => `@OnJobEvent on ${where}: ${reason}`,
  timedOut: (ms: number) => `Job timed out after ${ms} ms`,
  jobCancelled: (id: string) => `Job ${id} was cancelled`,
  cancelTimedOut: (ids: string[], ms: number) =>
    `Cancel of ${ids.join(', ')} waited ${ms} ms for a running transaction to end; its instance was told to roll it back: cancel again to finish`,
  invalidControlInput: (field: string, reason: string) => `${field} ${reason}`,
  leaseExpired: () => 'lease expired',
  shutdownAborted: () => 'Aborted: the instance is shutting down',
  releaseLeftToLease: (ids: string[]) =>
    `Shutdown could not release ${ids.length === 1 ? 'job' : 'jobs'} ${ids.join(', ')}: ` +
    `${ids.length === 1 ? 'its row stayed' : 'their rows stayed'} locked by another session; ` +
    `left processing until ${ids.length === 1 ? 'its lease expires' : 'their leases expire'}`,
  poolTooSmall: (size: number, needed: number, ownPool: boolean) =>
    `The database pool holds ${size} connections but the job queue may need ${needed} at once ` +
    `(one per transactional job running at once, plus a claim, three finish writers, the heartbeat, the rescuer, ` +
    `the depth sampler, the vacuum, a group insert and a health check); raise the pool size: ` +
    (ownPool
      ? `set the JobQueueModule option poolSize: ${needed} or more`
      : `the pool is your DataSource's, set extra: { max: ${needed} } (or more) in its TypeORM options`),
  signalWithoutShutdownHooks: (signal: string) =>
    `${signal} received, but the app did not call app.enableShutdownHooks() and handles no ${signal} itself: ` +
    `the process ends now, running jobs are not drained or released, and each is recovered only when its lease ` +
    `expires, with an attempt charged. Call app.enableShutdownHooks() in main.ts.`,
  endNotRecorded: (id: string, reason: string) => `Could not record the end of job ${id}: ${reason}`,
  resultNotKept: (id: string, reason: string) => `Job ${id} completed, but its result is kept as null: ${reason}`,
  completionNotWritten: (id: string, type: string, attempt: number, reason: string) =>
    `Job ${id} (${type}) attempt ${attempt} succeeded but its completion could not be written (${reason}); ` +
    `it will run again once its lease expires`,
  migrationsMissing: (schema: string, missing: string[], how: string) =>
    `The job queue schema "${schema}" lacks ${missing.length === 1 ? 'the migration' : 'the migrations'} ` +
    `${missing.join(', ')}. ${how} See docs/operations.md#migrations.`,
  migrateOwnDataSource: (schema: string) =>
    `The queue opened its own DataSource (connectionUrl), so nothing else runs them: set runMigrations: true on ` +
    `JobQueueModule, or run them before the deploy with the TypeORM CLI and a data-source.ts that lists ` +
    `createJobQueueMigrations('${schema}') (npx typeorm-ts-node-commonjs migration:run -d data-source.ts).`,
  migrateListedNotRun: () =>
    `Your DataSource lists them, but listing does not run them: set migrationsRun: true in its options, run them ` +
    `with the TypeORM CLI (npx typeorm-ts-node-commonjs migration:run -d data-source.ts), or set ` +
    `runMigrations: true on JobQueueModule.`,
  migrateListedAndRun: () =>
    `Your DataSource lists them and has migrationsRun: true, yet they are not recorded: was the schema reverted ` +
    `after start-up? Run them with the TypeORM CLI, or set runMigrations: true on JobQueueModule.`,
  migrateNotListed: (schema: string) =>
    `Your DataSource does not list them: add ...createJobQueueMigrations('${schema}') to its migrations and set ` +
    `migrationsRun: true or run the TypeORM CLI (npx typeorm-ts-node-commonjs migration:run -d data-source.ts), ` +
    `or set runMigrations: true on JobQueueModule.`,
  schemaTooNew: (schema: string, version: number, breaking: string[]) =>
    `The job queue schema "${schema}" has steps newer than this release (which knows up to version ${version}) ` +
    `that are not additive: ${breaking.join(', ')}. This release cannot run on it; deploy the release that ` +
    `migrated it (docs/operations.md#rolling-deploys).`,
  schemaAhead: (schema: string, version: number, known: number) =>
    `The job queue schema "${schema}" is at version ${version}, ahead of this release (version ${known}); the ` +
    `newer steps are additive, so this release runs on it`,
  unservedJobs: (queue: string, type: string, pending: number, capped: boolean) =>
    `${capped ? 'At least ' : ''}${pending} pending jobs of type "${type}" in queue "${queue}" have no live worker: ` +
    `no running instance serves this type on this queue. Is the handler's class in a module's providers, and does ` +
    `an instance list "${queue}" in its queues?`,
  noHandlersFound: (concurrency: number) =>
    `No @JobHandler found: this instance only enqueues (concurrency ${concurrency} is unused). A handler's class must ` +
    `be listed in the providers of a module of the app; set concurrency: 0 for an instance that is meant to only enqueue.`,
  producerOnly: (instanceId: string) => `Instance ${instanceId} started as a producer only (concurrency 0)`,
  workerNotRemoved: (reason: string) =>
    `Removing this worker from the live-worker registry failed; its row expires after the lease: ${reason}`,
  vacuumDenied: (table: string, role: string, pauseMs: number) =>
    `The job queue may not VACUUM ${table} as role "${role}" (it needs to own the table, or on PostgreSQL 17+ the ` +
    `MAINTAIN privilege): its dead rows are left to autovacuum. Grant it, or set vacuumThreshold: 0 to stop trying; ` +
    `next try in ${Math.round(pauseMs / 60_000)} min`,
  indexRebuilt: (index: string, outcome: 'rebuilt' | 'dropped', pages: number) =>
    outcome === 'rebuilt'
      ? `Rebuilt the bloated index ${index} (${mebibytes(pages)} MiB before; REINDEX INDEX CONCURRENTLY)`
      : `Dropped ${index}, an invalid index left by a rebuild that did not finish`,
  rebuildDenied: (table: string, role: string, pauseMs: number) =>
    `The job queue may not rebuild the indexes of ${table} as role "${role}" (it needs to own the table, or on ` +
    `PostgreSQL 17+ the MAINTAIN privilege): they stay bloated. Grant it, or set rebuildBloatedIndexes: false; ` +
    `next try in ${Math.round(pauseMs / 60_000)} min`,
  databaseUnreachable: (reason: string) => `The job queue cannot reach PostgreSQL: ${reason}`,
  secondForRoot: () =>
    'JobQueueModule.forRoot() was imported twice in one application: import it once (at the root) and use ' +
    'JobQueueModule elsewhere; a second poller would compete with the first.',
} as const;

/** A size in pages (8 KiB) as MiB, one decimal. */
function mebibytes(pages: number): string {
  return ((pages * 8192) / 1_048_576).toFixed(1);
}
