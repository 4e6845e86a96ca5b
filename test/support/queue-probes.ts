import { register } from 'prom-client';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { JobRepository } from '@app/job-queue/internal';
import { query } from './sql';
import { waitFor } from './wait-for';

/** A TypeORM DataSource of its own on the test database; the caller destroys it. */
export async function openDataSource(url: string, max = 4): Promise<DataSource> {
  const dataSource = new DataSource({ type: 'postgres', url, extra: { max } });
  await dataSource.initialize();
  return dataSource;
}

/** A repository on a connection pool of its own: what another instance of the app would hold. */
export async function openRepository(
  url: string,
  max = 2,
): Promise<{ repository: JobRepository; dataSource: DataSource }> {
  const dataSource = await openDataSource(url, max);
  return { repository: new JobRepository(dataSource, 'job_queue'), dataSource };
}

export type JobRowOf = Record<string, any>;

export async function jobRow(url: string, id: string): Promise<JobRowOf | undefined> {
  const [row] = await query<JobRowOf>(url, 'SELECT * FROM job_queue.jobs WHERE id = $1', [id]);
  return row;
}

export async function deadRow(url: string, id: string): Promise<JobRowOf | undefined> {
  const [row] = await query<JobRowOf>(url, 'SELECT * FROM job_queue.dead_jobs WHERE id = $1', [id]);
  return row;
}

export async function countJobs(url: string, where = 'true', values: unknown[] = []): Promise<number> {
  const [row] = await query<{ n: number }>(url, `SELECT count(*)::int AS n FROM job_queue.jobs WHERE ${where}`, values);
  return row.n;
}

/** The database clock; tests compare times with it, never with Date.now(). */
export async function dbNow(url: string): Promise<Date> {
  const [row] = await query<{ now: Date }>(url, 'SELECT clock_timestamp() AS now');
  return row.now;
}

/**
 * Records every insert and update of `jobs` with the row's state after it (a test-only trigger), so a test sees each
 * transition, with the times the statement itself wrote, however quickly the worker moves on.
 */
export async function installTransitionLog(url: string): Promise<void> {
  await query(
    url,
    `
    CREATE TABLE public.transitions (
      seq bigserial PRIMARY KEY, op text, id uuid, old_status text, status text, attempt_count int,
      next_retry_at timestamptz, updated_at timestamptz, last_error text, lock_token uuid, priority int)`,
  );
  await query(
    url,
    `
    CREATE FUNCTION public.log_transition() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO public.transitions (op, id, old_status, status, attempt_count, next_retry_at, updated_at, last_error, lock_token, priority)
      VALUES (TG_OP, NEW.id, CASE WHEN TG_OP = 'UPDATE' THEN OLD.status END, NEW.status, NEW.attempt_count,
              NEW.next_retry_at, NEW.updated_at, NEW.last_error, NEW.lock_token, NEW.priority);
      RETURN NEW;
    END $$`,
  );
  await query(
    url,
    `
    CREATE TRIGGER log_transition AFTER INSERT OR UPDATE ON job_queue.jobs
    FOR EACH ROW EXECUTE FUNCTION public.log_transition()`,
  );
}

export interface Transition {
  seq: number;
  op: 'INSERT' | 'UPDATE';
  old_status: string | null;
  status: string;
  attempt_count: number;
  next_retry_at: Date;
  updated_at: Date;
  last_error: string | null;
  lock_token: string | null;
  priority: number;
  /** next_retry_at − updated_at in ms, computed by the database. */
  delay_ms: number;
}

export async function transitionsOf(url: string, id: string): Promise<Transition[]> {
  return query<Transition>(
    url,
    `SELECT seq::int, op, old_status, status, attempt_count, next_retry_at, updated_at, last_error, lock_token, priority,
            (extract(epoch FROM next_retry_at - updated_at) * 1000)::float8 AS delay_ms
     FROM public.transitions WHERE id = $1 ORDER BY seq`,
    [id],
  );
}

/** The current value of a counter in prom-client's default registry for these labels (0 when never counted). */
export async function counterValue(name: string, labels: Record<string, string>): Promise<number> {
  const metric = register.getSingleMetric(name);
  if (!metric) return 0;
  const { values } = await metric.get();
  const match = values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l));
  return match?.value ?? 0;
}

/**
 * Sum of the samples of `series` (a metric name, or a histogram's `_count`/`_sum`) in prom-client's default registry
 * whose labels match; 0 when the metric has no such sample.
 */
export async function metricSample(name: string, labels: Record<string, string>, series = name): Promise<number> {
  const metric = register.getSingleMetric(name);
  if (!metric) return 0;
  const { values } = await metric.get();
  return values
    .filter(
      (v) =>
        ((v as { metricName?: string }).metricName ?? name) === series &&
        Object.entries(labels).every(([k, x]) => v.labels[k] === x),
    )
    .reduce((sum, v) => sum + v.value, 0);
}

/** A job as shutdown's release leaves it: pending, runnable now, unlocked, its interrupted attempt refunded. */
export const RELEASED_UNTRIED = {
  status: 'pending',
  locked_at: null,
  locked_by: null,
  lock_token: null,
  attempt_count: 0,
  last_error: null,
  runnable: true,
};

/** The columns of `RELEASED_UNTRIED`, for a SELECT on `jobs`. */
export const RELEASE_STATE_COLUMNS =
  'status, locked_at, locked_by, lock_token, attempt_count, last_error, next_retry_at <= now() AS runnable';

/**
 * Waits until the claim of instance `instanceId` waits on a lock: the test holds `LOCK TABLE jobs` to stall it.
 * The claim is recognised by the first CTE of its walk or of its one-level form, named in the first lines of its
 * text: `pg_stat_activity` keeps only the first 1 kB of a statement (`track_activity_query_size`).
 */
export async function waitForBlockedClaim(url: string, instanceId: string): Promise<void> {
  await waitFor('claim blocked', async () => {
    const rows = await query(
      url,
      `SELECT 1 FROM pg_stat_activity
       WHERE application_name = $1 AND wait_event_type = 'Lock'
         AND (query LIKE '%walk (job, priority%' OR query LIKE '%lvl AS MATERIALIZED%')`,
      [`job-queue:${instanceId}`],
    );
    return rows.length === 1;
  });
}

/** A promise the test resolves by hand: lets a handler run until the test says so. */
export function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

/**
 * Whether shutdown's release of instance `instanceId` waits on a row lock at this moment (a test holds one of its
 * rows). Recognised by its refund of the attempt, in the statement's first lines.
 */
export async function releaseWaitsOnLock(url: string, instanceId: string): Promise<boolean> {
  const rows = await query(
    url,
    `SELECT 1 FROM pg_stat_activity
     WHERE application_name = $1 AND wait_event_type = 'Lock' AND query LIKE '%greatest(j.attempt_count - 1, 0)%'`,
    [`job-queue:${instanceId}`],
  );
  return rows.length > 0;
}

/** A plain connection holding `FOR UPDATE` on one job's row until `end()`: as a heartbeat or a claim would, briefly. */
export async function holdRowLock(url: string, id: string): Promise<{ end: () => Promise<void> }> {
  const client = new Client({ connectionString: url });
  client.on('error', () => undefined);
  await client.connect();
  await client.query('BEGIN');
  await client.query('SELECT 1 FROM job_queue.jobs WHERE id = $1 FOR UPDATE', [id]);
  return {
    end: async () => {
      await client.query('COMMIT').catch(() => undefined);
      await client.end();
    },
  };
}
