import type { DataSource } from 'typeorm';
import type { BackoffOption } from './backoff.interface';

/** Options of `JobQueueModule.forRoot()`; every one has a default in `JOB_QUEUE_DEFAULTS`. */
export interface JobQueueModuleOptions {
  /**
   * The app's TypeORM DataSource (PostgreSQL). Given one, the queue shares its pool, so `enqueue(…, { manager })`
   * joins the app's transactions. Without one, the queue opens its own from `connectionUrl`.
   */
  dataSource?: DataSource;
  /** A PostgreSQL URL, used when no `dataSource` is given. */
  connectionUrl?: string;
  /** Pool size of the DataSource the queue opens itself (ignored with `dataSource`). */
  poolSize?: number;
  /** Schema holding `jobs` and `dead_jobs`. Must be a plain identifier. */
  schema?: string;
  /** Run the library's migrations at start (serialised across instances by an advisory lock). */
  runMigrations?: boolean;
  /** Queues this instance works on. */
  queues?: string[];
  /** Jobs this instance runs at once, over all handlers. 0 makes a producer-only instance. */
  concurrency?: number;
  /**
   * Jobs claimed ahead of free slots and held, leased, in a local queue (0, the default: claim only free slots).
   * Fewer, larger claims for short jobs under a backlog; the price is that one instance holds up to this many jobs
   * that other instances cannot take, and that a crash charges their attempt as it does a running job's.
   */
  prefetch?: number;
  /** Fallback poll interval; NOTIFY wakes workers sooner. */
  pollIntervalMs?: number;
  /** Do not LISTEN (for PgBouncer in transaction mode); poll only. */
  pollOnly?: boolean;
  /** How long a claimed job stays locked without a heartbeat before another instance may recover it. */
  leaseMs?: number;
  /** How often the recovery cron looks for expired leases. */
  recoveryIntervalMs?: number;
  /** Attempts a job gets when neither the job nor its handler says otherwise. */
  maxAttempts?: number;
  /** Base delay of the retry backoff. */
  retryDelayMs?: number;
  /** Backoff between attempts: linear (attempt × retryDelayMs), exponential with full jitter, or a function. */
  backoff?: BackoffOption;
  /** How long shutdown waits for in-flight jobs before it aborts them and releases their leases. */
  shutdownTimeoutMs?: number;
  /** Largest payload accepted by the producer, in bytes of its JSON text. */
  maxPayloadBytes?: number;
  /** Identifies this instance in `locked_by`. */
  instanceId?: string;
  /** How long successful completions are collected into one DELETE (0: flush on the next tick). */
  completionBatchDelayMs?: number;
  /** How many jobs the recovery cron handles per statement. */
  recoveryBatchSize?: number;
  /** Interval of the queue-depth sampler that feeds the `queue_depth` gauge (0 turns it off). */
  depthSampleIntervalMs?: number;
  /**
   * How often the LISTEN connection is checked with a query; one that has not answered by the next check is taken
   * for dead (a socket dropped without a word, which TCP alone notices only after minutes) and replaced (0: off).
   */
  listenerCheckIntervalMs?: number;
  /**
   * Dead tuples in one of the queue's tables (`jobs`, `dead_jobs`, `finished_jobs`, `rate_windows`, `limit_cursors`,
   * `schedules`, `workers`) above which an instance VACUUMs the table itself, one instance at a time:
   * the queue stays lean without autovacuum, or while it is behind. Needs the table's owner or, on PostgreSQL 17+,
   * the MAINTAIN privilege. 0 turns it off.
   */
  vacuumThreshold?: number;
  /** How often the dead tuples are checked (one read of the statistics views). */
  vacuumIntervalMs?: number;
  /**
   * After a VACUUM that found four times `vacuumThreshold` dead tuples or more (a long transaction held the horizon,
   * a mass delete), rebuild the table's indexes that stayed bloated with `REINDEX INDEX CONCURRENTLY`, one instance
   * at a time, so that they return to their steady size. Needs the same privilege as the vacuum. Off by default:
   * a rebuild waits for every older transaction, and DDL or ANALYZE on the table that starts meanwhile waits for the
   * rebuild in turn, a deadlock in which PostgreSQL may cancel the DDL (a migration) rather than the rebuild. Turn it
   * on where schema changes of the queue's tables are rare and retried. Needs `vacuumThreshold` above 0.
   */
  rebuildBloatedIndexes?: boolean;
  /**
   * How long before its slot a schedule's job is created (at most half the schedule's period; 0 with overlap
   * `skip`, which decides at the slot). The job waits in the table, due at its slot, so it starts on time.
   */
  scheduleLeadMs?: number;
  /** How late a slot may be fired as if on time; a slot later than this is missed, and `catchUp` decides. */
  scheduleMisfireGraceMs?: number;
  /** How often an instance re-reads the schedules (new, changed, paused or fired by other instances). */
  scheduleRefreshIntervalMs?: number;
  /** Times a job may be snoozed (`ctx.snooze`) before the next snooze dead-letters it, unless its handler says. */
  maxSnoozes?: number;
  /** Least time between two progress writes of one attempt (`ctx.progress`); the latest value waits for the next. */
  progressIntervalMs?: number;
  /** Largest progress value accepted, in bytes of its JSON text. */
  maxProgressBytes?: number;
  /**
   * Keep finished jobs queryable (off by default: a completed job is deleted, as ever). With `completedMs` > 0,
   * completed and cancelled jobs move to `finished_jobs` with their result and are pruned that long after they
   * finished; with `deadMs` > 0, dead jobs are pruned that long after they died (0: kept until requeued).
   */
  retention?: JobRetentionOptions;
}

/** See `JobQueueModuleOptions.retention`; every field has a default in `JOB_QUEUE_DEFAULTS.retention`. */
export interface JobRetentionOptions {
  /** How long completed and cancelled jobs stay queryable, in ms (0: not kept at all). */
  completedMs?: number;
  /** How long dead jobs stay in `dead_jobs`, in ms (0: until requeued or deleted by hand). */
  deadMs?: number;
  /** How often every instance prunes expired rows. */
  pruneIntervalMs?: number;
  /** Rows deleted per prune statement: short transactions beside the workers' writes. */
  pruneBatchSize?: number;
  /** Largest handler result kept, in bytes of its JSON text; a larger one is kept as `{ truncated, bytes }`. */
  maxResultBytes?: number;
}

/** Every option after defaults are merged; `dataSource` is resolved by the module. */
export type ResolvedJobQueueOptions = Required<
  Omit<JobQueueModuleOptions, 'dataSource' | 'connectionUrl' | 'retention'>
> &
  Pick<JobQueueModuleOptions, 'dataSource' | 'connectionUrl'> & { retention: Required<JobRetentionOptions> };
