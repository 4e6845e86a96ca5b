import type { AttemptOutcome } from '../observability/job-queue.metrics';

/**
 * One attempt's span, as the executor sees it: only the library's own types, so that the published declarations
 * never name `@opentelemetry/api` (an app without it compiles with `skipLibCheck: false`).
 */
export interface AttemptTrace {
  /** Runs the handler inside the attempt's span: spans it starts (pg, http instrumentation) are its children. */
  run<T>(work: () => T): T;
  /** The handler failed: the exception is recorded and the span's status is ERROR. */
  failed(error: unknown): void;
  /** The attempt's end is written (or given up on): the outcome is recorded and the span ends. Once. */
  finished(outcome: AttemptOutcome): void;
}

/** The attempt of an app that does not trace: nothing is allocated per job, nothing recorded. */
export const UNTRACED_ATTEMPT: AttemptTrace = {
  run: (work) => work(),
  failed: () => undefined,
  finished: () => undefined,
};
