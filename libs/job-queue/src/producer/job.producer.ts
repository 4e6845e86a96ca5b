import { Inject, Injectable, Logger } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { JobRepository } from '../job.repository';
import { JobHandlerRegistry } from '../discovery/job-handler.registry';
import { JobQueueError, JobValidationError } from '../errors/job-queue.errors';
import { JOB_QUEUE_OPTIONS } from '../job-queue.constants';
import { messages } from '../job-queue.messages';
import type { EnqueueOptions, EnqueueResult, JobToEnqueue } from '../interfaces/enqueue-options.interface';
import type { ResolvedJobQueueOptions } from '../interfaces/job-queue-options.interface';
import { JobQueueMetrics } from '../observability/job-queue.metrics';
import { JobQueueTracing } from '../tracing/job-queue.tracing';
import { isTransient } from '../worker/batched-writer';
import { GroupInserter } from './group-inserter';
import { QueueNotifier } from './queue-notifier';
import { validateJob, type ValidatedJob } from './job-input.validator';

type InsertableJob = ValidatedJob & { maxAttempts: number; traceContext?: string | null };

/** From this many jobs a call takes the bulk path (one transaction, COPY); below it, one shared statement. */
export const BULK_ENQUEUE_FROM = 1_000;
/** Jobs per `enqueueMany` call at most: the call holds them all in memory and writes them in one transaction. */
export const MAX_JOBS_PER_CALL = 1_000_000;
/** Lines per COPY chunk and rows per keyed statement of the bulk path. */
const BULK_CHUNK = 5_000;
/** `notified`: the insert itself woke the workers at its commit (see `insertGroup`). */
type InsertResult = { id: string | null; created: boolean; runnable: boolean; notified?: boolean };

/**
 * Enqueues jobs. Input is validated before anything is written; a `JobValidationError` names the field.
 * With `manager` the insert joins the caller's transaction (the job exists, and workers wake, only on commit);
 * without it, concurrent calls share one insert (group commit). Workers are woken by NOTIFY on commit.
 */
@Injectable()
export class JobProducer {
  private readonly logger = new Logger('JobQueue');
  private readonly grouped: GroupInserter<InsertableJob, InsertResult>;
  private readonly notifier: QueueNotifier;

  /** @internal Nest constructs it; the parameters are the library's internals. */
  constructor(
    @Inject(JOB_QUEUE_OPTIONS) private readonly options: ResolvedJobQueueOptions,
    private readonly repository: JobRepository,
    private readonly registry: JobHandlerRegistry,
    private readonly metrics: JobQueueMetrics,
    private readonly tracing: JobQueueTracing,
  ) {
    this.grouped = new GroupInserter(
      (jobs) => this.insertGroup(jobs),
      undefined,
      undefined,
      // An outage fails every caller alike; anything else the database refused may be one caller's job alone, and
      // so may a key the repository could not resolve (a `JobQueueError`: its insert rolled back).
      (error) => error instanceof JobQueueError || !isTransient(error),
    );
    this.notifier = new QueueNotifier(
      (queues) => this.repository.notifyQueues(queues),
      (error) =>
        this.logger.warn(
          `Waking workers failed; they will find the jobs at their next poll: ${(error as Error).message}`,
        ),
    );
  }

  async enqueue<P = unknown>(type: string, payload: P, options: EnqueueOptions = {}): Promise<EnqueueResult> {
    if (typeof options !== 'object' || options === null) {
      throw new JobValidationError('options', messages.invalidField('options', 'must be an object'));
    }
    const { manager, ...jobOptions } = options;
    checkManager(manager);
    const [id] = await this.insert([this.prepare({ ...jobOptions, type, payload }, '')], manager);
    return { id };
  }

  /**
   * Inserts every job, or none: each job is validated before anything is written, and one invalid job refuses the
   * whole call (a `JobValidationError` whose field names it, `jobs[3].priority`). A call of fewer than
   * `BULK_ENQUEUE_FROM` jobs is one statement (shared with concurrent callers); a larger one, up to
   * `MAX_JOBS_PER_CALL`, is one transaction (the caller's with `manager`) that streams the jobs with `COPY`.
   * Idempotency keys hold on both paths, within the batch and against live jobs. Workers are woken once per queue.
   */
  async enqueueMany(jobs: JobToEnqueue[], options: { manager?: EntityManager } = {}): Promise<{ ids: string[] }> {
    if (!Array.isArray(jobs)) throw new JobValidationError('jobs', messages.invalidField('jobs', 'must be an array'));
    if (jobs.length === 0) return { ids: [] };
    if (jobs.length > MAX_JOBS_PER_CALL) {
      throw new JobValidationError(
        'jobs',
        messages.invalidField('jobs', `holds ${jobs.length} jobs; at most ${MAX_JOBS_PER_CALL} per call`),
      );
    }
    checkManager(options.manager);
    const prepared = jobs.map((job, index) => this.prepare(job, `jobs[${index}].`));
    return { ids: await this.insert(prepared, options.manager) };
  }

  private prepare(job: JobToEnqueue, prefix: string): InsertableJob {
    const validated = validateJob(job, this.options.maxPayloadBytes, prefix);
    // Attempts: the job's own, else its handler's (when this app has it), else the module's.
    const maxAttempts =
      validated.maxAttempts ?? this.registry.get(validated.type)?.options.maxAttempts ?? this.options.maxAttempts;
    return { ...validated, maxAttempts };
  }

  /**
   * Inserts `jobs`, each with the active trace context (if any), through the bulk path from `BULK_ENQUEUE_FROM`
   * jobs on; returns their ids, in order.
   */
  private insert(jobs: InsertableJob[], manager?: EntityManager): Promise<string[]> {
    return this.tracing.enqueue(jobs, (traceContext) => {
      if (traceContext !== null) for (const job of jobs) job.traceContext = traceContext;
      return jobs.length >= BULK_ENQUEUE_FROM ? this.insertBulk(jobs, manager) : this.write(jobs, manager);
    });
  }

  private async write(jobs: InsertableJob[], manager?: EntityManager): Promise<string[]> {
    // In the caller's transaction the insert itself notifies, so workers wake only if and when it commits.
    // Otherwise the insert has committed when it returns, and the notifier wakes the workers right after, unless
    // the insert carried the NOTIFY itself.
    const results: InsertResult[] = manager
      ? await this.repository.insertMany(jobs, { manager, notifyOnCommit: true })
      : await this.grouped.add(jobs);
    const created = jobs.filter((_, i) => results[i].created);
    // Delayed jobs wake the workers too: each learns the new job's due time from its next-due probe, and wakes then.
    if (!manager) {
      this.notifier.notify(
        new Set(jobs.filter((_, i) => results[i].created && !results[i].notified).map((j) => j.queue)),
      );
    }
    this.metrics.jobsEnqueued(created);
    // In the caller's transaction a key that stayed unresolved has a null id (the other jobs are written in that
    // transaction); outside it the repository refused the whole insert instead, and the group inserter this call.
    const unresolved = jobs.find((_, i) => results[i].id === null);
    if (unresolved) {
      throw new JobQueueError(messages.idempotencyKeyUnresolved(unresolved.idempotencyKey!, jobs.length - 1));
    }
    return results.map((r) => r.id as string);
  }

  /**
   * One group commit's insert. When its NOTIFY would go at once after the commit (no other in flight or within the
   * notifier's gap: a lone enqueue, or the first after a pause), the insert carries it and the workers wake at its
   * commit: a statement, a commit and a round trip less between the enqueue and a worker's claim.
   */
  private async insertGroup(jobs: InsertableJob[]): Promise<InsertResult[]> {
    const notifyOnCommit = this.notifier.takeTurn();
    const results: InsertResult[] = await this.repository.insertMany(jobs, { notifyOnCommit });
    if (notifyOnCommit) for (const result of results) result.notified = true;
    return results;
  }

  /** The bulk path: the repository's transaction wakes the workers itself, at its commit. */
  private async insertBulk(jobs: InsertableJob[], manager?: EntityManager): Promise<string[]> {
    const results = await this.repository.insertBulk(jobs, BULK_CHUNK, manager);
    this.metrics.jobsEnqueued(jobs.filter((_, i) => results[i].created));
    return results.map((r) => r.id);
  }
}

/** `manager` must be a TypeORM EntityManager: anything else (a JSON object from a request body) would be ignored. */
function checkManager(manager: unknown): void {
  if (manager === undefined) return;
  if (typeof manager !== 'object' || manager === null || typeof (manager as EntityManager).query !== 'function') {
    throw new JobValidationError('manager', messages.invalidField('manager', 'must be a TypeORM EntityManager'));
  }
}
