import { statement } from './statement';

/**
 * Pauses ($2 true) or resumes ($2 false) queue $1, an upsert of its row in `queues`. The claim reads the paused
 * names in its own statement, so the pause holds from its commit on every instance, with no message to wait for.
 * A resume wakes the workers of the queue on commit (channel $3), since their claims found nothing while it was
 * paused and they may be waiting for the next poll. Returns the flag and when it was paused (null: running).
 */
export const setQueuePaused = statement(
  'set-queue-paused',
  (t) => `
WITH q AS (
  INSERT INTO ${t.queues} AS q (name, paused, paused_at, updated_at)
  VALUES ($1, $2, CASE WHEN $2 THEN now() END, now())
  ON CONFLICT (name) DO UPDATE
  SET paused = excluded.paused, updated_at = now(),
      paused_at = CASE WHEN excluded.paused THEN coalesce(q.paused_at, now()) END
  RETURNING name, paused, paused_at
)
SELECT name AS queue, paused, paused_at, CASE WHEN NOT paused THEN pg_notify($3, name) END IS NULL AS quiet FROM q`,
);
