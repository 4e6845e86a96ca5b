import { statement } from './statement';

/** Every queue ever paused or resumed, with its flag: a handful of rows. */
export const listQueueFlags = statement(
  'list-queue-flags',
  (t) => `SELECT name AS queue, paused, paused_at FROM ${t.queues} ORDER BY name`,
);
