import { statement } from './statement';

/** Which of these (id, token) pairs still hold their lease, read without locking. */
export const findHeldLeases = statement(
  'find-held-leases',
  (t) => `
SELECT j.id FROM ${t.jobs} j
JOIN unnest($1::uuid[], $2::uuid[]) AS f(id, token) ON j.id = f.id AND j.lock_token = f.token`,
);
