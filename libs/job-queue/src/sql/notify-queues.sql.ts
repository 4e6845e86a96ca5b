import { statement } from './statement';

/** Wakes the workers of these queues ($2) on the schema's channel ($1), after the jobs' own commit. */
export const notifyQueues = statement(
  'notify-queues',
  () => `SELECT count(pg_notify($1, q)) AS n FROM unnest($2::text[]) AS q`,
);
