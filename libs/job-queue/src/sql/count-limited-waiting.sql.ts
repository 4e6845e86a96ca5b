import { statement } from './statement';

/**
 * Due pending jobs of each type with limits ($2) in the served queues ($1), counted up to $3 per type: jobs that a
 * claim could take but for a slot or a start allowed by the type's limits. Each count walks the type's entries of
 * the claim index (`jobs_available_idx`: queue, type, …) and stops at the cap; entries not yet due are stepped over.
 */
export const countLimitedWaiting = statement(
  'count-limited-waiting',
  (t) => `
SELECT l.type,
       (SELECT count(*) FROM (
          SELECT 1 FROM ${t.jobs} j
          WHERE j.status = 'pending' AND j.queue = ANY ($1::text[]) AND j.type = l.type AND j.next_retry_at <= now()
          LIMIT $3) s)::int AS waiting
FROM unnest($2::text[]) AS l(type)`,
);
