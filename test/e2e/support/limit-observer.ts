import { query, withClient } from '../../support/sql';

/**
 * Records every attempt of the watched types as the database sees it, with triggers the test installs on
 * `job_queue.jobs` (nothing of the product): an attempt starts when its row goes from `pending` to `processing`,
 * and ends when the row is deleted (completed, dead-lettered) or goes back to `pending` (retried, released,
 * recovered). Both are stamped `clock_timestamp()` inside the writing transaction; `claimed_at` is the row's
 * `locked_at`, the time the limited claim counted its rate window at.
 *
 * Why these stamps prove a concurrency limit: a claim's count runs after it took the type's lock, so every claim
 * that started a job before it had committed; an end it did not count committed after the count, so its stamp is
 * after the count, which is before the new start's stamp. Intervals [start, end) overlapping more than the limit
 * would need a start whose claim counted fewer running jobs than there were.
 */
export async function installAttemptLog(url: string): Promise<void> {
  await query(
    url,
    `CREATE TABLE public.attempt_log (
       job_id uuid NOT NULL, token uuid NOT NULL, type text NOT NULL, key text, locked_by text,
       claimed_at timestamptz, started_at timestamptz NOT NULL, ended_at timestamptz, how text)`,
  );
  await query(
    url,
    `CREATE FUNCTION public.log_attempt() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN
       IF TG_OP = 'UPDATE' AND OLD.status = 'pending' AND NEW.status = 'processing' THEN
         INSERT INTO public.attempt_log (job_id, token, type, key, locked_by, claimed_at, started_at)
         VALUES (NEW.id, NEW.lock_token, NEW.type, NEW.concurrency_key, NEW.locked_by, NEW.locked_at, clock_timestamp());
       ELSIF TG_OP = 'UPDATE' AND OLD.status = 'processing' AND NEW.status = 'pending' THEN
         UPDATE public.attempt_log SET ended_at = clock_timestamp(), how = 'back to pending'
         WHERE token = OLD.lock_token AND ended_at IS NULL;
       ELSIF TG_OP = 'DELETE' AND OLD.status = 'processing' THEN
         UPDATE public.attempt_log SET ended_at = clock_timestamp(), how = 'deleted'
         WHERE token = OLD.lock_token AND ended_at IS NULL;
       END IF;
       RETURN NULL;
     END $$`,
  );
  await query(
    url,
    `CREATE TRIGGER log_attempt AFTER UPDATE OF status OR DELETE ON job_queue.jobs
     FOR EACH ROW EXECUTE FUNCTION public.log_attempt()`,
  );
}

export interface Attempt {
  job_id: string;
  key: string | null;
  locked_by: string;
  claimed_ms: number;
  start_ms: number;
  end_ms: number | null;
  how: string | null;
}

export async function attemptsOf(url: string, type: string): Promise<Attempt[]> {
  return query<Attempt>(
    url,
    `SELECT job_id, key, locked_by, how,
            (extract(epoch FROM claimed_at) * 1000)::float8 AS claimed_ms,
            (extract(epoch FROM started_at) * 1000)::float8 AS start_ms,
            (extract(epoch FROM ended_at) * 1000)::float8 AS end_ms
     FROM public.attempt_log WHERE type = $1 ORDER BY started_at`,
    [type],
  );
}

/** The most attempts running at one moment, per key ('*' for all), from their [start, end) intervals. */
export function maxOverlapByKey(attempts: Attempt[], byKey: boolean): Record<string, number> {
  const events = new Map<string, Array<[number, number]>>();
  for (const a of attempts) {
    const key = byKey ? String(a.key) : '*';
    const list = events.get(key) ?? [];
    list.push([a.start_ms, 1], [a.end_ms ?? Infinity, -1]);
    events.set(key, list);
  }
  const max: Record<string, number> = {};
  for (const [key, list] of events) {
    // An end at the same instant as a start comes first: [start, end) intervals.
    list.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
    let now = 0;
    max[key] = 0;
    for (const [, delta] of list) {
      now += delta;
      max[key] = Math.max(max[key], now);
    }
  }
  return max;
}

/** The most starts in any half-open window [t, t + periodMs), t running over the starts themselves. */
export function maxStartsInWindow(startsMs: number[], periodMs: number): number {
  const sorted = [...startsMs].sort((a, b) => a - b);
  let max = 0;
  let j = 0;
  for (let i = 0; i < sorted.length; i++) {
    while (j < sorted.length && sorted[j] < sorted[i] + periodMs) j++;
    max = Math.max(max, j - i);
  }
  return max;
}

/** Samples `processing` rows of `type` per key every few ms until stopped; keeps each key's maximum. */
export function sampleRunning(url: string, type: string): { stop: () => Promise<Record<string, number>> } {
  const max: Record<string, number> = {};
  let samples = 0;
  let running = true;
  const loop = withClient(url, async (client) => {
    while (running) {
      const { rows } = await client.query<{ key: string | null; n: number }>(
        `SELECT concurrency_key AS key, count(*)::int AS n FROM job_queue.jobs
         WHERE type = $1 AND status = 'processing' GROUP BY 1`,
        [type],
      );
      samples += 1;
      for (const { key, n } of rows) max[String(key)] = Math.max(max[String(key)] ?? 0, n);
      await new Promise((r) => setTimeout(r, 5));
    }
  });
  return {
    stop: async () => {
      running = false;
      await loop;
      return { ...max, samples };
    },
  };
}
