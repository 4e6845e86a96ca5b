/** The base of every error this library throws on purpose. */
export class JobQueueError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** Bad input to the producer; nothing was written. `field` names what is wrong. */
export class JobValidationError extends JobQueueError {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

/** A module option is invalid; the app does not start. */
export class JobQueueConfigError extends JobQueueError {
  constructor(
    readonly option: string,
    message: string,
  ) {
    super(message);
  }
}

/** Two `@JobHandler`s claim one type. */
export class DuplicateJobHandlerError extends JobQueueError {}

/** Thrown by a handler: the job goes to the dead-letter table at once, whatever attempts are left. */
export class UnrecoverableJobError extends JobQueueError {}

/** Thrown into a handler's signal when its job was cancelled: nothing the handler does next is written. */
export class JobCancelledError extends JobQueueError {}

/**
 * A cancel could not take the rows of `ids` within its lock timeout: a transactional handler that ignores its
 * signal still holds them. Its instance was told, so its transaction will roll back; cancelling again later ends
 * the job.
 */
export class JobCancelTimeoutError extends JobQueueError {
  constructor(
    readonly ids: string[],
    message: string,
  ) {
    super(message);
  }
}

/** Thrown into a handler's signal when its attempt ran longer than the handler's `timeoutMs`. */
export class JobTimeoutError extends JobQueueError {}

/**
 * What the rescuer hands a backoff function as the error of an attempt whose lease expired: its instance died or
 * stalled, so there is no error of the handler's to give.
 */
export class JobLeaseExpiredError extends JobQueueError {}

/**
 * The schema lacks steps of the migration chain this code needs (all of them, on a new database) and the app did
 * not opt into running them. `missing` names them as TypeORM records them; the message says how to run them.
 */
export class JobQueueSchemaMissingError extends JobQueueError {
  constructor(
    readonly missing: string[],
    message: string,
  ) {
    super(message);
  }
}

/**
 * The schema holds steps newer than this code that are not additive (`breaking` names them): this release cannot
 * run on it. A rolling deploy runs side by side only releases whose newer steps are all additive.
 */
export class JobQueueSchemaTooNewError extends JobQueueError {
  constructor(
    readonly breaking: string[],
    message: string,
  ) {
    super(message);
  }
}

/**
 * Internal: a transactional job's transaction could not start (no connection, BEGIN or the row lock failed), so its
 * handler never ran. `cause` is the database error.
 */
export class JobNotStartedError extends JobQueueError {
  constructor(override readonly cause: unknown) {
    super((cause as Error)?.message ?? String(cause));
  }
}

/**
 * Thrown by a handler, or by `ctx.snooze(ms)`: not a failure but "not now". The job goes back to pending, due in
 * `delayMs` (the database's clock), and the attempt is not counted; the handler's `maxSnoozes` caps how often.
 */
export class SnoozeJob extends JobQueueError {
  readonly delayMs: number;

  constructor(delayMs: number) {
    if (typeof delayMs !== 'number' || !Number.isInteger(delayMs) || delayMs < 0 || delayMs > MAX_SNOOZE_MS) {
      throw new JobValidationError(
        'snooze',
        `Invalid job snooze: must be an integer of ms from 0 to ${MAX_SNOOZE_MS}, got ${JSON.stringify(delayMs)}`,
      );
    }
    super(`Snoozed for ${delayMs} ms`);
    this.delayMs = delayMs;
  }
}

/** Ten years, the longest delay the producer accepts too: a longer one is almost certainly a unit mistake. */
const MAX_SNOOZE_MS = 10 * 365 * 24 * 3_600_000;
