import { statement } from './statement';

/** Deletes one dead job for good (an operator's decision that it will never run again); returns its id. */
export const deleteDead = statement(
  'delete-dead',
  (t) => `
DELETE FROM ${t.deadJobs} WHERE id = $1 RETURNING id`,
);
