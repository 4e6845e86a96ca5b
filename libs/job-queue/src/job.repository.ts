import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { from as copyFrom } from 'pg-copy-streams';
import { Logger } from '@nestjs/common';
import type { Pool, PoolClient, QueryResultRow } from 'pg';
import type { DataSource, EntityManager, QueryRunner } from 'typeorm';
import { JobNotStartedError, JobQueueError } from './errors/job-queue.errors';
import { messages } from './job-queue.messages';
import { TimeOrderedIds } from './producer/time-ordered-id';
import { copyJobLine, copyJobs } from './sql/copy-jobs.sql';
import type { DeadJobSummary } from './interfaces/job-row.interface';
import type { ValidatedJob } from './producer/job-input.validator';
import { claimAvailable, claimPairs } from './sql/claim-available.sql';
import { completeAndClaimFor } from './sql/complete-and-claim.sql';
import { claimOneLevel } from './sql/claim-one-level.sql';
import { ClaimRoute } from './sql/claim-route';
import { claimLimited } from './sql/claim-limited.sql';
import { countRunningLimited } from './sql/count-running-limited.sql';
import { countLimitedWaiting } from './sql/count-limited-waiting.sql';
import { limitLockKey, MAX_KEYS_PER_CLAIM, type JobLimits } from './limits/job-limits';
import { completeMany } from './sql/complete-many.sql';
import { cancelBackend } from './sql/cancel-backend.sql';
import { countByStatus } from './sql/count-by-status.sql';
import { currentRole } from './sql/current-role.sql';
import { countByStatusSampled } from './sql/count-by-status-sampled.sql';
import { countDeadUpTo } from './sql/count-dead-up-to.sql';
import { findExpired } from './sql/find-expired.sql';
import { findHeldLeases } from './sql/find-held-leases.sql';
import { findTables } from './sql/find-tables.sql';
import { findUnserved } from './sql/find-unserved.sql';
import { queueTables, type QueueTables } from './sql/identifier';
import { insertJobs } from './sql/insert-jobs.sql';
import { insertJobsPlain, insertJobsPlainNotifying } from './sql/insert-jobs-plain.sql';
import { notifyQueues } from './sql/notify-queues.sql';
import { nextDue } from './sql/next-due.sql';
import { killMany } from './sql/kill-many.sql';
import { listDead } from './sql/list-dead.sql';
import { listSchemaVersions } from './sql/list-schema-versions.sql';
import { lockForTransaction } from './sql/lock-for-transaction.sql';
import { oldestPending } from './sql/oldest-pending.sql';
import { releaseMany, releaseManyWaiting } from './sql/release-many.sql';
import { removeWorker } from './sql/remove-worker.sql';
import { renewLeases } from './sql/renew-leases.sql';
import { requeueDead } from './sql/requeue-dead.sql';
import { retryMany } from './sql/retry-many.sql';
import { snoozeMany } from './sql/snooze-many.sql';
import { tableHealth } from './sql/table-health.sql';
import { terminateBackends } from './sql/terminate-backends.sql';
import { touchWorker } from './sql/touch-worker.sql';
import { writeProgress } from './sql/write-progress.sql';
import {
  MAINTENANCE_LOCK,
  releaseMaintenanceLock,
  tryMaintenanceLock,
  type MaintenanceKind,
} from './sql/maintenance-lock.sql';
import { dropIndexConcurrently, indexSizes, invalidIndexes, reindexConcurrently } from './sql/index-rebuild.sql';
import type { IndexPlan, IndexSize } from './maintenance/index-bloat';
import { vacuumTable, vacuumedTable, type QueueTableName } from './sql/vacuum-table.sql';
import type { Statement, StatementFactory } from './sql/statement';
import { resultJson } from './control/result-json';
import { isTransient } from './worker/batched-writer';
import { errorMessage } from './worker/failure-decision';
import { CANCEL_BATCH, cancelJobs, cancelJobsWaiting } from './sql/cancel-jobs.sql';
import { completeManyRetained } from './sql/complete-many-retained.sql';
import { findCancelBatch, findLiveIds } from './sql/find-cancel-batch.sql';
import { findFinishedStatus } from './sql/find-finished-status.sql';
import { findJobAny } from './sql/find-job-any.sql';
import { listDeadJobs, listFinishedJobs, listLiveJobs } from './sql/list-jobs.sql';
import { listQueueFlags } from './sql/list-queue-flags.sql';
import { pruneDead, pruneFinished } from './sql/prune-finished.sql';
import { retryCancelled } from './sql/retry-cancelled.sql';
import { setLockTimeout, setSessionLockTimeout } from './sql/set-lock-timeout.sql';
import { setQueuePaused } from './sql/set-queue-paused.sql';
import { countProcessingByQueue } from './sql/count-processing-by-queue.sql';
import {
  listDeadWindow,
  listFinishedWindow,
  listLiveWindow,
  listProcessingPage,
} from './sql/dashboard-list-window.sql';
import { deleteDead } from './sql/delete-dead.sql';
import { findDeadStack } from './sql/find-dead-stack.sql';
import type { CancelledRow, JobState, QueueFlag } from './control/job-control.interface';

/**
 * The (queue, type) pairs the oldest-pending probe walks at most, one index descent each: it stays bounded with any
 * number of types, and past this many pairs the age is that of the first ones in index order.
 */
const OLDEST_PENDING_MAX_PAIRS = 1_000;

/**
 * How long a release waits for a row of its own that someone holds (see `sql/release-many.sql.ts`): those holders
 * (a heartbeat, a claim, a session being ended) let go within milliseconds; one holding longer leaves the row to its
 * lease, as a crash would, rather than holding shutdown up.
 */
const RELEASE_LOCK_TIMEOUT_MS = 2_000;

/** What a claim returns per job: enough to run it and to fence every later statement. */
export interface ClaimedJob {
  id: string;
  queue: string;
  type: string;
  payload: unknown;
  priority: number;
  attempt_count: number;
  max_attempts: number;
  lock_token: string;
  /** The job's `created_at`, in milliseconds since the epoch. */
  created_at_ms: number;
  /** The database's `now()` at the claim, in milliseconds since the epoch. */
  claimed_at_ms: number;
  /** The job's run-at (`next_retry_at`) when claimed, in milliseconds since the epoch: where a claim's cursor is. */
  run_at_ms: number;
  /** The slot of a job a schedule made, in milliseconds since the epoch; null for any other job. */
  scheduled_for_ms: number | null;
  /** How many times the job was snoozed before this attempt. */
  snooze_count: number;
  /** The trace context stored at enqueue (`tracing/trace-context.ts`), null when none was active. */
  trace_context?: unknown;
}

/** Where a claim starts walking its lowest priority level (see `claim-available.sql.ts`); none: from the head. */
export interface ClaimCursor {
  priority: number;
  runAtMs: number;
}

/** What a limited claim returns (see `JobRepository.claimLimited`). */
export interface LimitedClaim {
  jobs: ClaimedJob[];
  completed: Set<string>;
  wakeInMs: number | null;
  /** The limits that left due jobs waiting: `global`, `key`, `rate`, `key_rate`. */
  held: string[];
}

/**
 * `completeAndClaim` wrote its completions (`completed`: the ids whose lease held) and then failed to claim, with
 * `cause`: the caller counts those jobs as completed, and handles `cause` as a failed claim.
 */
export class ClaimAfterCompletionsError extends Error {
  constructor(
    readonly completed: Set<string>,
    cause: unknown,
  ) {
    super(`The claim after ${completed.size} completions failed: ${(cause as Error)?.message ?? String(cause)}`, {
      cause,
    });
  }
}

/** An attempt's identity: a statement about it counts only while the row still carries this token. */
export interface Lease {
  id: string;
  token: string;
  /** A completed attempt's return value, kept in `finished_jobs` when retention is on. */
  result?: unknown;
}

export interface Retry extends Lease {
  delayMs: number;
  error: string;
  /** Give the attempt back (1): it never reached its handler, so it must not count towards `max_attempts`. */
  refund?: 0 | 1;
}

export interface Kill extends Lease {
  reason: string;
  stack: string | null;
}

/** A snooze: back to pending, due in `delayMs`, the attempt given back and `snooze_count` counted instead. */
export interface Snooze extends Lease {
  delayMs: number;
}

/** A running attempt's progress, as JSON text. */
export interface ProgressWrite extends Lease {
  json: string;
}

export interface ExpiredJob {
  id: string;
  queue: string;
  type: string;
  attempt_count: number;
  max_attempts: number;
  lock_token: string;
  /** For the `failed` and `dead` hooks. */
  payload: unknown;
}

export type RescueDecision = { retryInMs: number } | 'kill';

/** How a failed attempt ends, as one fenced write: retried, dead-lettered, or released (its attempt refunded). */
export type AttemptEnd = { retry: Retry } | { kill: Kill } | { release: Lease } | { snooze: Snooze };

/** The backend running a job's transaction: its pid, and when that transaction began (the database's `now()`). */
export interface JobBackend {
  pid: number;
  xactStart: string;
}

export interface JobTransactionHooks {
  /** The row is locked: the transaction is now the job's lease. */
  onLocked?: (backend: JobBackend) => void;
  /** The transaction has ended (committed, rolled back or broken): its connection is about to go back to the pool. */
  onUnlocked?: () => void;
  /**
   * The work failed: how the attempt ends. Written inside the same transaction, after rolling the work back to a
   * savepoint, so that the row stays locked until the real error is recorded (a rescuer could otherwise take a
   * row whose lease ran out while its transaction held it). Null: roll back and throw, as before.
   */
  onFailure?: (error: unknown) => AttemptEnd | null;
  /**
   * The job was cancelled: checked before the transaction would commit (the work's completion or its failure's
   * end), which then rolls back instead, so nothing the work did is committed.
   */
  cancelled?: () => boolean;
}

/** What a job's transaction came to; a failure not written inside it is thrown instead. */
export type JobTransactionResult =
  { status: 'lost' } | { status: 'completed' } | { status: 'failed'; end: AttemptEnd } | { status: 'cancelled' };

export interface RescueResult {
  retried: ExpiredJob[];
  killed: ExpiredJob[];
}

/** A step of the migration chain recorded in the schema. */
export interface AppliedVersion {
  version: number;
  name: string;
  additive: boolean;
}

/** What the schema holds: its tables, and the versions recorded (none for a database migrated before the chain). */
export interface SchemaState {
  tablesPresent: boolean;
  versions: AppliedVersion[];
}

/** Pending jobs of one queue and type that no live worker serves; `pending` is counted up to a cap. */
export interface UnservedJobs {
  queue: string;
  type: string;
  pending: number;
}

export interface StatusCount {
  queue: string;
  status: 'pending' | 'processing' | 'dead';
  count: number;
}

/** One of the queue's tables as the statistics views and the catalog see it (see `sql/table-health.sql.ts`). */
export interface TableHealth {
  table: QueueTableName;
  dead_tuples: number;
  pages: number;
  claim_reads: number;
  claim_scans: number;
  /** Start of the oldest transaction holding back the xmin horizon (database clock, ms), null when none. */
  horizon_since_ms: number | null;
  now_ms: number;
}

/**
 * `vacuumed`; `busy`: another instance holds the vacuum lock, or a session a conflicting lock; `denied`: no privilege;
 * `cancelled`: cancelled by `cancelBackend` (shutdown).
 */
export type VacuumOutcome = 'vacuumed' | 'busy' | 'denied' | 'cancelled';

/**
 * What a rebuild round did to one index (`pages`: its size before): `rebuilt`, or `dropped` (a leftover); or why it
 * did not: `busy` (a lock or an older transaction not released within the lock timeout), `denied` (no privilege),
 * `cancelled` (shutdown).
 */
export interface IndexRebuild {
  index: string;
  outcome: 'rebuilt' | 'dropped' | 'busy' | 'denied' | 'cancelled';
  pages: number;
}

/** The maintenance outcome an error of PostgreSQL stands for, if it is one of the expected ones. */
function maintenanceFailure(error: unknown): 'busy' | 'denied' | 'cancelled' | undefined {
  switch ((error as { code?: string }).code) {
    case '55P03': // lock_timeout
      return 'busy';
    case '42501':
      return 'denied';
    case '57014': // pg_cancel_backend, at shutdown
      return 'cancelled';
    case '40P01': // a rebuild waiting for a transaction that waits for it (DDL on the table): retried later
      return 'busy';
    default:
      return undefined;
  }
}

/** Anything that runs a pg query: the pool, or the client of a caller's transaction. */
type Queryable = Pick<Pool, 'query'> | PoolClient;

/**
 * Every SQL statement of the queue, as Entity+Verb methods. Statements run on the pg pool under the app's
 * DataSource with stable names (prepared once per connection); nothing outside this class writes SQL.
 */
export class JobRepository {
  readonly tables: QueueTables;
  private readonly logger = new Logger('JobQueue');
  private readonly statements = new Map<StatementFactory, Statement>();
  /** Ids of the jobs this repository inserts: time-ordered, so the primary key grows at its right edge. */
  private readonly timeOrderedIds = new TimeOrderedIds();
  /** Which claim statement a claim takes first: the one-level claim where it applies (`sql/claim-route.ts`). */
  private readonly claimRoute = new ClaimRoute();

  constructor(
    readonly dataSource: DataSource,
    schema: string,
    /** Retention on: completions move rows to `finished_jobs` with their results (at most `maxResultBytes`). */
    private readonly retention: { keepFinished: boolean; maxResultBytes: number } = {
      keepFinished: false,
      maxResultBytes: 0,
    },
  ) {
    this.tables = queueTables(schema);
  }

  get keepsFinished(): boolean {
    return this.retention.keepFinished;
  }

  /** The pg pool behind the DataSource (its primary, when it has replicas). */
  get pool(): Pool {
    return (this.dataSource.driver as unknown as { master: Pool }).master;
  }

  async claimAvailable(
    queues: string[],
    types: string[],
    limit: number,
    instanceId: string,
    cursor?: ClaimCursor,
  ): Promise<ClaimedJob[]> {
    const [pairQueues, pairTypes] = claimPairs(queues, types);
    const values = [pairQueues, pairTypes, limit, instanceId, cursor?.priority ?? null, cursor?.runAtMs ?? null];
    if (this.claimRoute.oneLevel(pairQueues, pairTypes, limit)) {
      const rows = await this.rows<ClaimedJob>(claimOneLevel, values);
      // Claimed rows, or the one row (id null) that says the pair has several levels and nothing was claimed.
      if (rows.length !== 1 || rows[0].id !== null) return rows;
      this.claimRoute.severalLevels(pairQueues[0], pairTypes[0]);
    }
    return this.rows<ClaimedJob>(claimAvailable, values);
  }

  /**
   * Completes `leases` and claims up to `limit` jobs in one statement (one round trip, one commit). Returns the
   * claimed jobs and the ids whose completion held its lease.
   */
  async completeAndClaim(
    leases: Lease[],
    queues: string[],
    types: string[],
    limit: number,
    instanceId: string,
    cursor?: ClaimCursor,
  ): Promise<{ jobs: ClaimedJob[]; completed: Set<string> }> {
    if (leases.length === 0) {
      return { jobs: await this.claimAvailable(queues, types, limit, instanceId, cursor), completed: new Set() };
    }
    const [pairQueues, pairTypes] = claimPairs(queues, types);
    const values: unknown[] = [
      pairQueues,
      pairTypes,
      limit,
      instanceId,
      leases.map((l) => l.id),
      leases.map((l) => l.token),
      cursor?.priority ?? null,
      cursor?.runAtMs ?? null,
    ];
    const keep = this.retention.keepFinished;
    if (keep) values.push(this.results(leases));
    const statement = completeAndClaimFor(this.claimRoute.oneLevel(pairQueues, pairTypes, limit), keep);
    const rows = await this.rows<ClaimedJob & { done: boolean | null }>(statement, values);
    const jobs: ClaimedJob[] = [];
    const completed = new Set<string>();
    let severalLevels = false;
    // Rows are kept as the driver made them (a claimed job keeps its `done: false`): copying each costs CPU per job.
    for (const row of rows) {
      if (row.done) completed.add(row.id);
      else if (row.done === false) jobs.push(row);
      else severalLevels = true;
    }
    if (!severalLevels) return { jobs, completed };
    // The one-level claim found several levels and claimed nothing; the completions committed with it, so a failure
    // of the walk that claims instead must not make the caller take them for unwritten.
    this.claimRoute.severalLevels(pairQueues[0], pairTypes[0]);
    try {
      return { jobs: await this.claimAvailable(queues, types, limit, instanceId, cursor), completed };
    } catch (error) {
      throw new ClaimAfterCompletionsError(completed, error);
    }
  }

  /**
   * Completes `leases`, then claims up to `limit` jobs of one limited type within its limits, in one round trip
   * (`claim-limited.sql.ts`). `wakeInMs`: when a rate limit stopped the claim, how long until it has room again.
   */
  async claimLimited(
    leases: Lease[],
    queues: string[],
    type: string,
    limits: JobLimits,
    limit: number,
    instanceId: string,
  ): Promise<LimitedClaim> {
    const rows = await this.rows<ClaimedJob & { done: boolean | null; wake_in_ms: number | null; held: string | null }>(
      claimLimited,
      [
        limitLockKey(this.tables.statementKey, type),
        queues,
        type,
        limit,
        instanceId,
        leases.map((l) => l.id),
        leases.map((l) => l.token),
        limits.globalConcurrency,
        limits.concurrencyPerKey,
        limits.rateLimit?.max ?? null,
        limits.rateLimit?.periodMs ?? null,
        limits.rateLimit?.perKey ?? false,
        MAX_KEYS_PER_CLAIM,
      ],
    );
    const result: LimitedClaim = { jobs: [], completed: new Set(), wakeInMs: null, held: [] };
    for (const row of rows) {
      if (row.done === false) result.jobs.push(row);
      else if (row.done === true) result.completed.add(row.id);
      else {
        result.wakeInMs = row.wake_in_ms;
        result.held = row.held ? row.held.split(',') : [];
      }
    }
    return result;
  }

  /** Due pending jobs of each of these types in these queues, up to `cap` per type (`sql/count-limited-waiting`). */
  async countLimitedWaiting(
    queues: readonly string[],
    types: string[],
    cap: number,
  ): Promise<Array<{ type: string; waiting: number }>> {
    return this.rows(countLimitedWaiting, [queues, types, cap]);
  }

  /** Running jobs of these types, per type (`key` null) and per key. */
  async countRunningLimited(types: string[]): Promise<Array<{ type: string; key: string | null; running: number }>> {
    return this.rows(countRunningLimited, [types]);
  }

  /**
   * Inserts jobs; returns one id per job, in order, whether that call created it, and whether it is runnable now.
   * With `notifyOnCommit` the insert itself wakes the workers when its transaction commits (a caller's transaction,
   * or a lone autocommit enqueue); without it the caller calls `notifyQueues` after the commit.
   * Outside a caller's transaction (no `client`, and `manager` without a connection of its own) the insert is all or
   * nothing: one statement without keys, else one transaction of its own (`insertKeyedAlone`), which throws a
   * `JobQueueError` for a key unresolved after `KEY_ROUNDS` statements. In a caller's transaction such a key gets a
   * null id instead, and the rest is written in that transaction.
   */
  async insertMany(
    jobs: Array<ValidatedJob & { maxAttempts: number; traceContext?: string | null }>,
    options: { manager?: EntityManager; client?: PoolClient; notifyOnCommit: boolean },
  ): Promise<Array<{ id: string | null; created: boolean; runnable: boolean }>> {
    const runner = options.manager?.queryRunner;
    if (!options.client && (!runner || runner.isReleased)) {
      if (jobs.every((j) => j.idempotencyKey === null)) return this.insertPlain(jobs, options.notifyOnCommit);
      return this.insertKeyedAlone(jobs, options.notifyOnCommit);
    }
    const target = options.client ?? (await this.target(options.manager));
    return this.insertRounds(jobs, target, options.notifyOnCommit);
  }

  /**
   * The keyed insert of no caller's transaction, in a transaction of its own on one pooled client. Its rounds after
   * the first (`insertRounds`) are separate statements: were each its own commit, a round that failed would leave the
   * first round's jobs written while their callers get the error (and send them again). READ COMMITTED, whatever the
   * database's default: each round's statement takes a fresh snapshot, so it sees the keys committed since the last.
   * A deadlock (with another transaction that holds keys in another order) rolled the whole transaction back: it
   * starts afresh rather than failing every caller in it. The caller notifies after this returns, so after COMMIT.
   */
  private async insertKeyedAlone(
    jobs: Array<ValidatedJob & { maxAttempts: number; traceContext?: string | null }>,
    notifyOnCommit: boolean,
  ): Promise<Array<{ id: string | null; created: boolean; runnable: boolean }>> {
    const client = await this.pool.connect();
    const ignore = () => undefined;
    client.on('error', ignore); // as in rescueExpired: the failed query reports a dropped connection
    let broken: Error | undefined;
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          await client.query('BEGIN ISOLATION LEVEL READ COMMITTED');
          const results = await this.insertRounds(jobs, client, notifyOnCommit);
          const unresolved = results.findIndex((r) => r.id === null);
          if (unresolved !== -1) {
            throw new JobQueueError(messages.idempotencyKeyUnresolvedRolledBack(jobs[unresolved].idempotencyKey!));
          }
          await client.query('COMMIT');
          return results;
        } catch (error) {
          // A connection that cannot even roll back goes back to the pool as broken, and is discarded there.
          const rolledBack = await client.query('ROLLBACK').then(
            () => true,
            () => false,
          );
          if (!rolledBack) broken = error as Error;
          if (!rolledBack || (error as { code?: string }).code !== '40P01' || attempt === KEY_ROUNDS) throw error;
        }
      }
    } finally {
      client.removeListener('error', ignore);
      client.release(broken);
    }
  }

  /**
   * `insertJobs` in rounds on `target`, which is in a transaction (the caller's, the bulk path's or
   * `insertKeyedAlone`'s). A null id: the job's idempotency key was neither found nor inserted in `KEY_ROUNDS`
   * statements.
   */
  private async insertRounds(
    jobs: Array<ValidatedJob & { maxAttempts: number; traceContext?: string | null }>,
    target: Queryable,
    notifyOnCommit: boolean,
  ): Promise<Array<{ id: string | null; created: boolean; runnable: boolean }>> {
    const results = new Array<{ id: string | null; created: boolean; runnable: boolean }>(jobs.length);
    // A key whose job committed after the statement's snapshot yields a null id; the next statement sees that job.
    // Only those rows go again: the others are written (and counted, and notified) by the round that wrote them.
    let todo = jobs.map((_, i) => i);
    for (let round = 1; ; round++) {
      const batch = todo.map((i) => jobs[i]);
      const keys = batch.map((j) => j.idempotencyKey);
      const params = [
        ...jobColumns(batch),
        keys,
        this.tables.channel,
        notifyOnCommit,
        concurrencyKeys(batch),
        traceContexts(batch),
        batch.map(() => this.timeOrderedIds.next()),
      ];
      const rows = await this.rows<{ id: string | null; created: boolean; runnable: boolean }>(
        insertJobs,
        params,
        target,
      );
      const missing: number[] = [];
      rows.forEach(({ id, created, runnable }, n) => {
        if (id === null) missing.push(todo[n]);
        else results[todo[n]] = { id, created, runnable };
      });
      // Out of rounds (a key's job replaced again and again, or a trigger that drops rows): null ids, for the
      // caller to refuse the call they belong to.
      if (missing.length === 0 || round === KEY_ROUNDS) {
        for (const i of missing) results[i] = { id: null, created: false, runnable: false };
        return results;
      }
      todo = missing;
    }
  }

  private async insertPlain(
    jobs: Array<ValidatedJob & { maxAttempts: number; traceContext?: string | null }>,
    notifyOnCommit: boolean,
  ) {
    const ids = jobs.map(() => this.timeOrderedIds.next());
    const values = [ids, ...jobColumns(jobs), concurrencyKeys(jobs), traceContexts(jobs)];
    if (notifyOnCommit) values.push(this.tables.channel);
    const rows = await this.rows<{ id: string; runnable: boolean }>(
      notifyOnCommit ? insertJobsPlainNotifying : insertJobsPlain,
      values,
    );
    const runnable = new Map(rows.map((r) => [r.id, r.runnable]));
    return ids.map((id) => ({ id, created: true, runnable: runnable.get(id) === true }));
  }

  /** Wakes the workers listening for these queues. */
  async notifyQueues(queues: string[]): Promise<void> {
    await this.rows(notifyQueues, [this.tables.channel, queues]);
  }

  /**
   * Inserts a large batch all or nothing: in the caller's transaction when `manager` has one, else in a transaction
   * of its own. Jobs due now without an idempotency key go through one `COPY` (streamed in chunks of `chunkSize`
   * lines, so that building the next chunk overlaps the server writing the last); the others through `insertJobs`
   * in chunks, in key order (no deadlock between two bulk calls that share keys). Workers are woken by one
   * `pg_notify` per queue, delivered at commit (PostgreSQL folds the duplicates of one transaction).
   * Results are in input order, as `insertMany`'s.
   */
  async insertBulk(
    jobs: Array<ValidatedJob & { maxAttempts: number }>,
    chunkSize: number,
    manager?: EntityManager,
  ): Promise<Array<{ id: string; created: boolean; runnable: boolean }>> {
    // A manager without an open transaction (say `dataSource.manager`) would run each chunk in autocommit: the call
    // then makes a transaction of its own, as without a manager.
    const runner = manager?.queryRunner;
    if (runner && !runner.isReleased && runner.isTransactionActive) {
      return this.writeBulk(jobs, chunkSize, (await runner.connect()) as PoolClient);
    }
    const client = await this.pool.connect();
    const ignore = () => undefined;
    client.on('error', ignore); // as in rescueExpired: the failed query reports a dropped connection
    let failure: Error | undefined;
    try {
      await client.query('BEGIN');
      const results = await this.writeBulk(jobs, chunkSize, client);
      await client.query('COMMIT');
      return results;
    } catch (error) {
      failure = error as Error;
      await client.query('ROLLBACK').catch(ignore);
      throw error;
    } finally {
      client.removeListener('error', ignore);
      client.release(failure);
    }
  }

  private async writeBulk(
    jobs: Array<ValidatedJob & { maxAttempts: number }>,
    chunkSize: number,
    client: PoolClient,
  ): Promise<Array<{ id: string; created: boolean; runnable: boolean }>> {
    const results = new Array<{ id: string; created: boolean; runnable: boolean }>(jobs.length);
    const copied: number[] = [];
    const stated: number[] = [];
    jobs.forEach((j, i) =>
      (j.idempotencyKey === null && j.runAt === null && j.delayMs === 0 ? copied : stated).push(i),
    );
    if (copied.length > 0) {
      const ids = this.timeOrderedIds;
      const chunks = function* () {
        for (let start = 0; start < copied.length; start += chunkSize) {
          let text = '';
          for (const i of copied.slice(start, start + chunkSize)) {
            const id = ids.next();
            results[i] = { id, created: true, runnable: true };
            text += copyJobLine(id, jobs[i]);
          }
          yield text;
        }
      };
      await pipeline(Readable.from(chunks()), client.query(copyFrom(copyJobs(this.tables))));
      const queues = [...new Set(copied.map((i) => jobs[i].queue))];
      await this.rows(notifyQueues, [this.tables.channel, queues], client);
    }
    const ordered = inKeyOrder(stated, jobs);
    for (let start = 0; start < ordered.length; start += chunkSize) {
      const chunk = ordered.slice(start, start + chunkSize);
      const rows = await this.insertMany(
        chunk.map((i) => jobs[i]),
        { client, notifyOnCommit: true },
      );
      rows.forEach((row, n) => {
        // Unresolved after every round: the whole call is refused (rolled back), not just this job.
        if (row.id === null)
          throw new JobQueueError(messages.idempotencyKeyUnresolvedRolledBack(jobs[chunk[n]].idempotencyKey!));
        results[chunk[n]] = { id: row.id, created: row.created, runnable: row.runnable };
      });
    }
    return results;
  }

  /** Deletes finished jobs; returns the ids whose lease held. */
  async completeMany(leases: Lease[], client?: Queryable): Promise<Set<string>> {
    if (leases.length === 0) return new Set();
    const values = [leases.map((l) => l.id), leases.map((l) => l.token)];
    if (!this.retention.keepFinished) return this.ids(completeMany, values, client);
    const results = this.results(leases);
    try {
      return await this.ids(completeManyRetained, [...values, results], client);
    } catch (error) {
      // A result the database still refuses (past what `resultJson` cleans: say, nested deeper than the server's
      // `max_stack_depth`) must not fail the completion, or the job would run again after its lease: it is kept
      // as null. Only for one completion written alone (the writer retries a refused batch row by row) and outside
      // a transaction, which the refusal has aborted.
      if (leases.length > 1 || results[0] === null || client !== undefined || isTransient(error)) throw error;
      this.logger.warn(messages.resultNotKept(leases[0].id, errorMessage(error)));
      return this.ids(completeManyRetained, [...values, [null]]);
    }
  }

  /** The results of completed attempts as the JSON texts `finished_jobs.result` keeps. */
  private results(leases: Lease[]): Array<string | null> {
    return leases.map((l) =>
      resultJson(l.result, this.retention.maxResultBytes, (reason) =>
        this.logger.warn(messages.resultNotKept(l.id, reason)),
      ),
    );
  }

  async retryMany(retries: Retry[], client?: Queryable): Promise<Set<string>> {
    if (retries.length === 0) return new Set();
    const values = [retries.map((r) => r.id), retries.map((r) => r.token), retries.map((r) => r.delayMs)];
    return this.ids(retryMany, [...values, retries.map((r) => r.error), retries.map((r) => r.refund ?? 0)], client);
  }

  async killMany(kills: Kill[], client?: Queryable): Promise<Set<string>> {
    if (kills.length === 0) return new Set();
    const values = [kills.map((k) => k.id), kills.map((k) => k.token), kills.map((k) => k.reason)];
    return this.ids(killMany, [...values, kills.map((k) => k.stack)], client);
  }

  /** Snoozes jobs (see `snooze-many.sql.ts`); returns the ids whose lease held. */
  async snoozeMany(snoozes: Snooze[], client?: Queryable): Promise<Set<string>> {
    if (snoozes.length === 0) return new Set();
    const values = [snoozes.map((s) => s.id), snoozes.map((s) => s.token), snoozes.map((s) => s.delayMs)];
    return this.ids(snoozeMany, values, client);
  }

  /** Writes running attempts' progress; returns the ids written (lease held, row not locked by a transaction). */
  async writeProgress(writes: ProgressWrite[]): Promise<Set<string>> {
    if (writes.length === 0) return new Set();
    return this.ids(writeProgress, [writes.map((w) => w.id), writes.map((w) => w.token), writes.map((w) => w.json)]);
  }

  /** Renews leases; returns those renewed. A lease missing here was skipped (row busy) or lost: ask `findHeld`. */
  async renewLeases(leases: Lease[]): Promise<Set<string>> {
    if (leases.length === 0) return new Set();
    return this.ids(renewLeases, [leases.map((l) => l.id), leases.map((l) => l.token)]);
  }

  async findHeldLeases(leases: Lease[]): Promise<Set<string>> {
    if (leases.length === 0) return new Set();
    return this.ids(findHeldLeases, [leases.map((l) => l.id), leases.map((l) => l.token)]);
  }

  /**
   * Hands jobs back to `pending`, their attempt refunded (see `sql/release-many.sql.ts`): first every row not locked
   * at this moment; then the rows still ours that were locked, waiting for them up to `RELEASE_LOCK_TIMEOUT_MS`.
   * Returns the ids released: a row missing was cancelled or recovered meanwhile, or held past the wait (its lease
   * then expires). Inside a job's own transaction (`client`), which holds its row, one pass is all.
   */
  async releaseMany(leases: Lease[], client?: Queryable): Promise<Set<string>> {
    if (leases.length === 0) return new Set();
    const params = (list: Lease[]) => [list.map((l) => l.id), list.map((l) => l.token)];
    const released = await this.ids(releaseMany, params(leases), client);
    if (client || released.size === leases.length) return released;
    const skipped = await this.findHeldLeases(leases.filter((l) => !released.has(l.id)));
    if (skipped.size === 0) return released;
    const left = leases.filter((l) => skipped.has(l.id));
    // 40P01 besides a row still held at the timeout: a waiting cancel took these rows in another order. Neither ends
    // the release: the rest follows.
    const waited = await this.waitingPass(RELEASE_LOCK_TIMEOUT_MS, ['55P03', '40P01'], (connection) =>
      this.ids(releaseManyWaiting, params(left), connection),
    );
    if (waited) {
      for (const id of waited) released.add(id);
      return released;
    }
    // The wait rolled back: the rows it had taken, and any freed since, go now; the one still held stays.
    for (const id of await this.ids(releaseMany, params(left))) released.add(id);
    return released;
  }

  /** Writes one attempt's end; returns whether its lease held. */
  async writeEnd(end: AttemptEnd, client?: Queryable): Promise<boolean> {
    let written: Set<string>;
    if ('retry' in end) written = await this.retryMany([end.retry], client);
    else if ('kill' in end) written = await this.killMany([end.kill], client);
    else if ('snooze' in end) written = await this.snoozeMany([end.snooze], client);
    else written = await this.releaseMany([end.release], client);
    return written.size === 1;
  }

  /**
   * One batch of recovery, in one transaction: lock expired leases (SKIP LOCKED), then retry or dead-letter each
   * as `decide` says, through the same fenced statements a worker uses.
   */
  async rescueExpired(
    leaseMs: number,
    limit: number,
    decide: (job: ExpiredJob) => RescueDecision,
    reason: string,
  ): Promise<RescueResult> {
    const client = await this.pool.connect();
    // A checked-out pg client has no 'error' listener: one whose connection drops (a terminated backend, a restart)
    // would throw an unhandled 'error' event and kill the process. The failed query already reports the error.
    const ignore = () => undefined;
    client.on('error', ignore);
    let failure: Error | undefined;
    try {
      await client.query('BEGIN');
      const expired = await this.rows<ExpiredJob>(findExpired, [leaseMs, limit], client);
      const retried: ExpiredJob[] = [];
      const killed: ExpiredJob[] = [];
      const retries: Retry[] = [];
      const kills: Kill[] = [];
      for (const job of expired) {
        const decision = decide(job);
        if (decision === 'kill') {
          killed.push(job);
          kills.push({ id: job.id, token: job.lock_token, reason, stack: null });
        } else {
          retried.push(job);
          retries.push({ id: job.id, token: job.lock_token, delayMs: decision.retryInMs, error: reason });
        }
      }
      await this.retryMany(retries, client);
      await this.killMany(kills, client);
      await client.query('COMMIT');
      return { retried, killed };
    } catch (error) {
      failure = error as Error;
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.removeListener('error', ignore);
      client.release(failure); // with an error, the pool discards the connection instead of reusing it
    }
  }

  /**
   * Runs `work` inside a transaction that holds the job's row (fenced by its token) and deletes the job before it
   * commits: the work's database effects and the job's completion commit together or not at all.
   * Returns `lost`, having run nothing, when the lease was already lost; `failed` when the work failed and
   * `hooks.onFailure`'s end was written in the transaction (see there). `onLocked` learns the backend.
   * A failure before `work` starts (no connection, the BEGIN or the lock failed) is thrown as `JobNotStartedError`:
   * the handler never ran, and the caller must not charge the job an attempt for it.
   */
  async inJobTransaction(
    lease: Lease,
    work: (manager: EntityManager) => Promise<unknown>,
    hooks: JobTransactionHooks = {},
  ): Promise<JobTransactionResult> {
    const runner: QueryRunner = this.dataSource.createQueryRunner();
    let started = false;
    let locked = false;
    try {
      await runner.connect();
      await runner.startTransaction();
      const client = (await runner.connect()) as PoolClient;
      const [held] = await this.rows<{ id: string; pid: number; xact_start: string }>(
        lockForTransaction,
        [lease.id, lease.token],
        client,
      );
      if (!held) {
        await runner.rollbackTransaction();
        return { status: 'lost' };
      }
      locked = true;
      hooks.onLocked?.({ pid: held.pid, xactStart: held.xact_start });
      await client.query(`SAVEPOINT ${WORK_SAVEPOINT}`);
      started = true;
      let result: unknown;
      try {
        result = await work(runner.manager);
      } catch (error) {
        if (hooks.cancelled?.()) return await this.rollBackCancelled(runner);
        const end = decideEnd(hooks, error);
        if (!end || !(await this.endInTransaction(runner, client, end))) throw error;
        return { status: 'failed', end };
      }
      if (hooks.cancelled?.()) return await this.rollBackCancelled(runner);
      await this.completeMany([{ ...lease, result }], client);
      await runner.commitTransaction();
      return { status: 'completed' };
    } catch (error) {
      if (runner.isTransactionActive) await runner.rollbackTransaction().catch(() => undefined);
      throw started ? error : new JobNotStartedError(error);
    } finally {
      if (locked) hooks.onUnlocked?.();
      await runner.release();
    }
  }

  /** A cancelled job's transaction ends: nothing it did commits, and the row's lock goes to the waiting cancel. */
  private async rollBackCancelled(runner: QueryRunner): Promise<JobTransactionResult> {
    // A session ended by the cancel (see `JobExecutor.cancel`) has rolled back already: the rollback may fail.
    if (runner.isTransactionActive) await runner.rollbackTransaction().catch(() => undefined);
    return { status: 'cancelled' };
  }

  /**
   * Undoes the work back to its savepoint and writes the attempt's end in the same transaction, the row still
   * locked; false when that cannot be done (the connection broke): the caller then rolls back and writes it apart.
   */
  private async endInTransaction(runner: QueryRunner, client: PoolClient, end: AttemptEnd): Promise<boolean> {
    try {
      await client.query(`ROLLBACK TO SAVEPOINT ${WORK_SAVEPOINT}`);
      if (!(await this.writeEnd(end, client))) return false;
      await runner.commitTransaction();
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Ends these backends' sessions (and so their transactions); shutdown's last resort for stuck handlers. Only a
   * backend still in the transaction it began for the job is ended, never one that went back to the pool and
   * moved on. Returns how many were ended.
   */
  async terminateBackends(backends: JobBackend[]): Promise<number> {
    if (backends.length === 0) return 0;
    const rows = await this.rows(terminateBackends, [backends.map((b) => b.pid), backends.map((b) => b.xactStart)]);
    return rows.length;
  }

  async listDead(limit: number): Promise<DeadJobSummary[]> {
    return this.rows<DeadJobSummary>(listDead, [limit]);
  }

  /** Moves a dead job back to `jobs`; null when there is no dead job with that id. */
  async requeueDead(id: string): Promise<string | null> {
    const [row] = await this.rows<{ id: string }>(requeueDead, [id, this.tables.channel]);
    return row?.id ?? null;
  }

  async countByStatus(): Promise<StatusCount[]> {
    return this.rows<StatusCount>(countByStatus, []);
  }

  /** Jobs per queue and status from a sample of each table's pages (100: all of them); see the statement. */
  async countByStatusSampled(jobsPercent: number, deadPercent: number): Promise<StatusCount[]> {
    return this.rows<StatusCount>(countByStatusSampled, [jobsPercent, deadPercent]);
  }

  /** Dead jobs, counted up to `limit`. */
  async countDeadUpTo(limit: number): Promise<number> {
    const [row] = await this.rows<{ count: number }>(countDeadUpTo, [limit]);
    return row.count;
  }

  async readTableHealth(): Promise<TableHealth[]> {
    return this.rows<TableHealth>(tableHealth, []);
  }

  /**
   * VACUUMs one of the queue's tables on a connection of its own, under the vacuum lock (one instance at a time). A
   * role that may not vacuum the table gets a WARNING, not an error, from PostgreSQL (13–17 alike): it is read from
   * the notices and reported as `denied`.
   */
  async vacuumTable(table: QueueTableName, onStarted: (pid: number) => void = () => undefined): Promise<VacuumOutcome> {
    try {
      return await this.underMaintenanceLock('vacuum', table, onStarted, async (client, warnings) => {
        await client.query(vacuumTable(this.tables, table));
        // 55P03: SKIP_LOCKED found the table locked. The permission warning reads "permission denied to vacuum …"
        // from 16 on, "… only table or database owner can vacuum it" before.
        if (warnings.some((w) => w.code === '55P03')) return 'busy';
        if (warnings.some((w) => /permission denied|owner can vacuum/i.test(w.message))) return 'denied';
        return 'vacuumed';
      });
    } catch (error) {
      const outcome = maintenanceFailure(error);
      if (outcome === 'denied' || outcome === 'cancelled') return outcome;
      throw error;
    }
  }

  /** The invalid indexes of the queue's tables, by name (catalog only; see `invalidIndexes`). */
  async readInvalidIndexes(): Promise<Array<{ table: QueueTableName; index: string }>> {
    return this.rows<{ table: QueueTableName; index: string }>(invalidIndexes, []);
  }

  /**
   * One rebuild round of a table's indexes (see `IndexRebuilder`), on a connection of its own under the rebuild lock:
   * reads the indexes' sizes, asks `plan` what to do, then drops the leftovers and rebuilds the bloated indexes one at
   * a time, each statement waiting at most `lockTimeoutMs` for a lock or for an older transaction to end. The round
   * stops at the first statement that fails for one of those reasons (its index gets the failure's outcome), and
   * before the next statement once `stopped()` (shutdown, which also cancels the statement under way).
   */
  async rebuildIndexes(
    table: QueueTableName,
    plan: (indexes: IndexSize[]) => IndexPlan,
    lockTimeoutMs: number,
    onStarted: (pid: number) => void = () => undefined,
    stopped: () => boolean = () => false,
  ): Promise<IndexRebuild[] | 'busy'> {
    return this.underMaintenanceLock('rebuild', table, onStarted, async (client) => {
      const sizes = await this.rows<IndexSize>(indexSizes, [vacuumedTable(this.tables, table)], client);
      const { drop, rebuild } = plan(sizes);
      const steps = [
        ...drop.map((index) => ({ index, done: 'dropped' as const, sql: dropIndexConcurrently(this.tables, index) })),
        ...rebuild.map((index) => ({ index, done: 'rebuilt' as const, sql: reindexConcurrently(this.tables, index) })),
      ];
      const results: IndexRebuild[] = [];
      if (steps.length === 0) return results;
      await this.rows(setSessionLockTimeout, [lockTimeoutMs], client);
      try {
        for (const step of steps) {
          if (stopped()) break;
          const size = sizes.find((i) => i.index === step.index)!;
          try {
            await client.query(step.sql);
            results.push({ index: step.index, outcome: step.done, pages: size.pages });
          } catch (error) {
            const outcome = maintenanceFailure(error);
            if (outcome === undefined) throw error;
            results.push({ index: step.index, outcome, pages: size.pages });
            break;
          }
        }
      } finally {
        await client.query('RESET lock_timeout');
      }
      return results;
    });
  }

  /**
   * Runs `work` on a pooled connection of its own (VACUUM and `REINDEX … CONCURRENTLY` run outside any transaction)
   * under the session-level advisory lock of `kind` for `table`, tried, never waited for: `busy` when another
   * instance holds it. `onStarted` gets the backend's pid once the lock is held, so that shutdown can cancel the
   * statement; `warnings` collects the WARNINGs the server sends meanwhile.
   */
  private async underMaintenanceLock<T>(
    kind: MaintenanceKind,
    table: QueueTableName,
    onStarted: (pid: number) => void,
    work: (client: PoolClient, warnings: Array<{ code?: string; message: string }>) => Promise<T>,
  ): Promise<T | 'busy'> {
    const client = await this.pool.connect();
    const ignore = () => undefined; // see rescueExpired: a checked-out client's 'error' must not end the process
    const warnings: Array<{ code?: string; message: string }> = [];
    const onNotice = (notice: { severity?: string; code?: string; message?: string }) => {
      if (notice.severity === 'WARNING') warnings.push({ code: notice.code, message: notice.message ?? '' });
    };
    client.on('error', ignore);
    client.on('notice', onNotice);
    const lock = [MAINTENANCE_LOCK[kind], `${this.tables.schema}.${table}`];
    let failure: Error | undefined;
    try {
      const [{ locked, pid }] = await this.rows<{ locked: boolean; pid: number }>(tryMaintenanceLock, lock, client);
      if (!locked) return 'busy';
      onStarted(pid);
      try {
        return await work(client, warnings);
      } finally {
        await this.rows(releaseMaintenanceLock, lock, client);
      }
    } catch (error) {
      failure = error as Error;
      throw error;
    } finally {
      client.removeListener('notice', onNotice);
      client.removeListener('error', ignore);
      client.release(failure); // with an error the connection is discarded, and with it any lock or setting it held
    }
  }

  /** Cancels the statement a backend of the queue runs (its VACUUM); true when a signal was sent. */
  async cancelBackend(pid: number): Promise<boolean> {
    const [row] = await this.rows<{ cancelled: boolean }>(cancelBackend, [pid]);
    return row.cancelled;
  }

  async currentRole(): Promise<string> {
    const [row] = await this.rows<{ role: string }>(currentRole, []);
    return row.role;
  }

  async oldestPendingAgeMs(): Promise<number | null> {
    const [row] = await this.rows<{ age_ms: string | null }>(oldestPending, [OLDEST_PENDING_MAX_PAIRS]);
    return row?.age_ms == null ? null : Number(row.age_ms);
  }

  async schemaState(): Promise<SchemaState> {
    const [row] = await this.rows<{ present: boolean; versioned: boolean }>(findTables, []);
    const versions = row.versioned ? await this.rows<AppliedVersion>(listSchemaVersions, []) : [];
    return { tablesPresent: row.present, versions };
  }

  /** Registers this worker or renews its row, live for `leaseMs` from the database's now(). */
  async touchWorker(worker: {
    instanceId: string;
    queues: string[];
    types: string[];
    concurrency: number;
    leaseMs: number;
  }): Promise<void> {
    await this.rows(touchWorker, [worker.instanceId, worker.queues, worker.types, worker.concurrency, worker.leaseMs]);
  }

  async removeWorker(instanceId: string): Promise<void> {
    await this.rows(removeWorker, [instanceId]);
  }

  /** Up to `maxPairs` queue/type pairs with pending jobs and no live worker; each count stops at `countCap`. */
  async findUnserved(maxPairs: number, countCap: number, maxScanned: number): Promise<UnservedJobs[]> {
    return this.rows<UnservedJobs>(findUnserved, [maxPairs, countCap, maxScanned]);
  }

  /** Milliseconds until the earliest not-yet-due pending job of these queues and types (database clock); null: none. */
  async nextDueInMs(queues: string[], types: string[]): Promise<number | null> {
    const [row] = await this.rows<{ due_in_ms: number | null }>(nextDue, claimPairs(queues, types));
    return row?.due_in_ms ?? null;
  }

  /** Pauses or resumes a queue; a resume wakes its workers on commit. */
  async setQueuePaused(queue: string, paused: boolean): Promise<QueueFlag> {
    const [row] = await this.rows<QueueFlag>(setQueuePaused, [queue, paused, this.tables.channel]);
    return { queue: row.queue, paused: row.paused, paused_at: row.paused_at };
  }

  async listQueueFlags(): Promise<QueueFlag[]> {
    return this.rows<QueueFlag>(listQueueFlags, []);
  }

  /**
   * Cancels up to `CANCEL_BATCH` jobs by id (see `sql/cancel-jobs.sql.ts`): first every row not locked at this
   * moment, telling the instances that hold processing ones; then, if some rows were locked, those, waiting for
   * their lock up to `lockTimeoutMs` (a transactional handler's transaction, which the message makes roll back).
   * Returns the jobs cancelled, and the ids still locked when the wait timed out.
   */
  async cancelJobs(ids: string[], lockTimeoutMs: number): Promise<{ cancelled: CancelledRow[]; locked: string[] }> {
    if (ids.length > CANCEL_BATCH) throw new Error(`at most ${CANCEL_BATCH} ids per cancel statement`);
    const params = (list: string[]) => [list, this.tables.channel, this.retention.keepFinished];
    const cancelled = (await this.rows<CancelledRow>(cancelJobs, params(ids))).filter((r) => r.id !== null);
    const done = new Set(cancelled.map((r) => r.id));
    const left = ids.filter((id) => !done.has(id));
    const stillLive = left.length === 0 ? [] : await this.liveIds(left);
    if (stillLive.length === 0) return { cancelled, locked: [] };
    const waited = await this.waitingPass(lockTimeoutMs, ['55P03'], (client) =>
      this.rows<CancelledRow>(cancelJobsWaiting, params(stillLive), client),
    );
    if (!waited) return { cancelled, locked: stillLive };
    cancelled.push(...waited.filter((r) => r.id !== null));
    return { cancelled, locked: [] };
  }

  /**
   * The second pass of a statement whose first skipped locked rows: `work` in a transaction of its own on a pooled
   * connection, waiting for those rows up to `lockTimeoutMs`. Null when it rolled back on one of `givenUp` (55P03,
   * a row still held at the timeout); any other error is thrown, its connection discarded.
   */
  private async waitingPass<T>(
    lockTimeoutMs: number,
    givenUp: string[],
    work: (client: PoolClient) => Promise<T>,
  ): Promise<T | null> {
    const client = await this.pool.connect();
    const ignore = () => undefined; // see rescueExpired: a checked-out client's 'error' must not end the process
    client.on('error', ignore);
    let failure: Error | undefined;
    try {
      await client.query('BEGIN');
      await this.rows(setLockTimeout, [lockTimeoutMs], client);
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      if (givenUp.includes((error as { code?: string }).code ?? '')) return null;
      failure = error as Error;
      throw error;
    } finally {
      client.removeListener('error', ignore);
      client.release(failure);
    }
  }

  /** Which of these ids are jobs in `jobs` now. */
  private async liveIds(ids: string[]): Promise<string[]> {
    const page = await this.rows<{ id: string }>(findLiveIds, [ids]);
    return page.map((r) => r.id);
  }

  /** The next batch of ids of `queue` (and `type`) after `after`, in key order, for a cancel by filter. */
  async findCancelBatch(queue: string, type: string | null, after: string, limit: number): Promise<string[]> {
    const rows = await this.rows<{ id: string }>(findCancelBatch, [queue, type, after, limit]);
    return rows.map((r) => r.id);
  }

  /** How jobs no longer live ended, by id: `completed` or `cancelled` (kept by retention) or `dead`. */
  async findFinishedStatus(ids: string[]): Promise<Map<string, JobState>> {
    const rows = await this.rows<{ id: string; status: JobState }>(findFinishedStatus, [ids]);
    return new Map(rows.map((r) => [r.id, r.status]));
  }

  async findJobAny(id: string): Promise<Record<string, unknown> | null> {
    const [row] = await this.rows(findJobAny, [id]);
    return row ?? null;
  }

  /** One keyset page of jobs in `state`, in id order after `after`. */
  async listJobs(
    state: JobState,
    queue: string | null,
    type: string | null,
    after: string,
    limit: number,
  ): Promise<Array<Record<string, unknown>>> {
    const factory =
      state === 'dead' ? listDeadJobs : state === 'pending' || state === 'processing' ? listLiveJobs : listFinishedJobs;
    return this.rows(factory, [state, queue, type, after, limit]);
  }

  /** Deletes up to `limit` completed and cancelled jobs finished more than `olderThanMs` ago; returns how many. */
  async pruneFinished(olderThanMs: number, limit: number): Promise<number> {
    const [row] = await this.rows<{ count: number }>(pruneFinished, [olderThanMs, limit]);
    return row.count;
  }

  /** Deletes up to `limit` dead jobs that died more than `olderThanMs` ago; returns how many. */
  async pruneDead(olderThanMs: number, limit: number): Promise<number> {
    const [row] = await this.rows<{ count: number }>(pruneDead, [olderThanMs, limit]);
    return row.count;
  }

  /** Moves a cancelled job (kept by retention) back to `jobs`; null when there is none with that id. */
  async retryCancelled(id: string): Promise<string | null> {
    const [row] = await this.rows<{ id: string }>(retryCancelled, [id, this.tables.channel]);
    return row?.id ?? null;
  }

  async ping(): Promise<void> {
    await this.pool.query('SELECT 1');
  }

  /** The client of the caller's transaction when `manager` has one, else the pool. */
  private async target(manager?: EntityManager): Promise<Queryable> {
    const runner = manager?.queryRunner;
    if (!runner || runner.isReleased) return this.pool;
    return (await runner.connect()) as PoolClient;
  }

  // The dashboard's reads and its one action of its own (see dashboard/).

  /** Running jobs per queue, exact (the processing set is bounded by the fleet's concurrency). */
  async countProcessingByQueue(): Promise<Array<{ queue: string; count: number }>> {
    return this.rows(countProcessingByQueue, []);
  }

  /** One page of jobs in `state` found within the next `window` rows of the table's key after `after`. */
  async listJobsWindow(
    state: JobState,
    queue: string | null,
    type: string | null,
    after: string,
    limit: number,
    window: number,
  ): Promise<{ jobs: Array<Record<string, unknown>>; window_end: string | null; scanned: number }> {
    const factory =
      state === 'dead'
        ? listDeadWindow
        : state === 'pending'
          ? listLiveWindow
          : state === 'processing'
            ? listProcessingPage
            : listFinishedWindow;
    const [row] = await this.rows<{ jobs: Array<Record<string, unknown>>; window_end: string | null; scanned: number }>(
      factory,
      [state, queue, type, after, limit, window],
    );
    return row;
  }

  /** The stack of a dead job's last error; null when there is none or no such dead job. */
  async findDeadStack(id: string): Promise<string | null> {
    const [row] = await this.rows<{ stack: string | null }>(findDeadStack, [id]);
    return row?.stack ?? null;
  }

  /** Deletes a dead job; false when no dead job has that id. */
  async deleteDead(id: string): Promise<boolean> {
    return (await this.rows(deleteDead, [id])).length > 0;
  }

  private async rows<T extends QueryResultRow>(
    factory: StatementFactory,
    values: unknown[],
    client: Queryable = this.pool,
  ): Promise<T[]> {
    let prepared = this.statements.get(factory);
    if (!prepared) this.statements.set(factory, (prepared = factory(this.tables)));
    const result = await client.query<T>({ name: prepared.name, text: prepared.text, values });
    return result.rows;
  }

  private async ids(factory: StatementFactory, values: unknown[], client?: Queryable): Promise<Set<string>> {
    const rows = await this.rows<{ id: string }>(factory, values, client);
    return new Set(rows.map((r) => r.id));
  }
}

/**
 * The indexes of `jobs` by idempotency key, bytewise as `insertJobs` orders them (COLLATE "C" on UTF-8), keyless
 * last: chunks sent one after another then take keys in one global order, as one statement would.
 */
function inKeyOrder(indexes: number[], jobs: Array<{ idempotencyKey: string | null }>): number[] {
  const keys = new Map<number, Buffer>();
  for (const i of indexes) {
    const key = jobs[i].idempotencyKey;
    if (key !== null) keys.set(i, Buffer.from(key, 'utf8'));
  }
  return [...indexes].sort((a, b) => {
    const ka = keys.get(a);
    const kb = keys.get(b);
    if (!ka || !kb) return (ka ? 0 : 1) - (kb ? 0 : 1) || a - b;
    return Buffer.compare(ka, kb) || a - b;
  });
}

/** Rounds of `insertJobs` for keys still unresolved, and transactions tried after a deadlock, before giving up. */
const KEY_ROUNDS = 5;

/** The end `onFailure` gives, or null (roll back, and let the caller write it) if it had none or threw. */
function decideEnd(hooks: JobTransactionHooks, error: unknown): AttemptEnd | null {
  try {
    return hooks.onFailure?.(error) ?? null;
  } catch {
    return null;
  }
}

/** Where a job's transaction returns to when its work fails, to record the failure while the row stays locked. */
const WORK_SAVEPOINT = 'job_queue_work';

/** The columns both insert statements take, one array per column, in their parameter order. */
function jobColumns(jobs: Array<ValidatedJob & { maxAttempts: number }>): unknown[] {
  return [
    jobs.map((j) => j.type),
    jobs.map((j) => j.queue),
    jobs.map((j) => j.payloadJson),
    jobs.map((j) => j.priority),
    jobs.map((j) => j.maxAttempts),
    jobs.map((j) => j.runAt),
    jobs.map((j) => j.delayMs),
  ];
}

/** Each job's `concurrencyKey` (null: none), a parameter of both insert statements. */
function concurrencyKeys(jobs: Array<ValidatedJob & { maxAttempts: number }>): Array<string | null> {
  return jobs.map((j) => j.concurrencyKey);
}

/** Each job's trace context as JSON text (null when none), the last parameter of both insert statements. */
function traceContexts(jobs: Array<{ traceContext?: string | null }>): Array<string | null> {
  return jobs.map((j) => j.traceContext ?? null);
}
