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

/** Thrown into a handler's signal when its attempt ran longer than the handler's `timeoutMs`. */
export class JobTimeoutError extends JobQueueError {}

/** The queue's tables are missing and the app did not opt into running migrations. */
export class JobQueueSchemaMissingError extends JobQueueError {}

/**
 * Internal: a transactional job's transaction could not start (no connection, BEGIN or the row lock failed), so its
 * handler never ran. `cause` is the database error.
 */
export class JobNotStartedError extends JobQueueError {
  constructor(override readonly cause: unknown) {
    super((cause as Error)?.message ?? String(cause));
  }
}
