import type { ClaimCursor, ClaimedJob } from '../job.repository';

/**
 * How far before the end of its previous batch a claim's cursor starts: rows are stamped with `now()` at their
 * transaction's start but become visible at its commit, so a row may commit shortly after later-stamped rows were
 * claimed. Rows that commit later still are found by the next walk from the head (see `JobPoller.claimOnce`).
 */
export const CURSOR_MARGIN_MS = 100;

/**
 * The cursor after a full batch (see `claim-available.sql.ts`): the batch's lowest priority (the walk's last level)
 * and the latest run-at claimed on it, less the margin. Every row of a higher level, or of this level before that
 * run-at, was claimed or passed over by the walk.
 */
export function cursorAfter(jobs: ReadonlyArray<Pick<ClaimedJob, 'priority' | 'run_at_ms'>>): ClaimCursor | undefined {
  if (jobs.length === 0) return undefined;
  let priority = Infinity;
  let runAtMs = -Infinity;
  for (const job of jobs) {
    if (job.priority < priority) {
      priority = job.priority;
      runAtMs = job.run_at_ms;
    } else if (job.priority === priority && job.run_at_ms > runAtMs) {
      runAtMs = job.run_at_ms;
    }
  }
  return { priority, runAtMs: runAtMs - CURSOR_MARGIN_MS };
}
