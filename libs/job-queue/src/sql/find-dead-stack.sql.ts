import { statement } from './statement';

/** The stack of a dead job's last error, kept in its snapshot (one primary-key lookup). */
export const findDeadStack = statement(
  'find-dead-stack',
  (t) => `
SELECT snapshot->>'stack' AS stack FROM ${t.deadJobs} WHERE id = $1`,
);
