import { query } from '../../support/sql';

export interface QueueOutcome {
  /** Rows still in `jobs` (pending or processing). */
  live: number;
  processing: number;
  dead: number;
  deadReasons: Record<string, number>;
  /** Distinct jobs among `ids` that left at least one effect row. */
  withEffect: number;
  /** Jobs among `ids` with more than one effect row. */
  duplicated: number;
  /** `ids` that are neither live, dead, nor (when they are effect-writing jobs) recorded: lost. */
  lost: number;
}

/**
 * What happened to a set of jobs, read straight from the tables. `recordIds` are demo.record jobs (their effect row
 * proves the run); `otherIds` finish by leaving `jobs` (a completion is the DELETE of the row).
 */
export async function queueOutcome(url: string, recordIds: string[], otherIds: string[] = []): Promise<QueueOutcome> {
  const all = [...recordIds, ...otherIds];
  const [counts] = await query<{ live: number; processing: number; dead: number }>(
    url,
    `SELECT (SELECT count(*)::int FROM job_queue.jobs WHERE id = ANY($1::uuid[])) AS live,
            (SELECT count(*)::int FROM job_queue.jobs WHERE id = ANY($1::uuid[]) AND status = 'processing') AS processing,
            (SELECT count(*)::int FROM job_queue.dead_jobs WHERE id = ANY($1::uuid[])) AS dead`,
    [all],
  );
  const reasons = await query<{ failure_reason: string; n: number }>(
    url,
    'SELECT failure_reason, count(*)::int AS n FROM job_queue.dead_jobs WHERE id = ANY($1::uuid[]) GROUP BY 1',
    [all],
  );
  const [effects] = await query<{ with_effect: number; duplicated: number }>(
    url,
    `SELECT count(*)::int AS with_effect, count(*) FILTER (WHERE n > 1)::int AS duplicated
     FROM (SELECT job_id, count(*) AS n FROM sample.effects WHERE job_id = ANY($1::uuid[]) GROUP BY job_id) e`,
    [recordIds],
  );
  // A record job is lost when it left `jobs` without being dead-lettered and without its effect.
  const [lost] = await query<{ n: number }>(
    url,
    `SELECT count(*)::int AS n FROM unnest($1::uuid[]) AS r(id)
     WHERE NOT EXISTS (SELECT 1 FROM job_queue.jobs j WHERE j.id = r.id)
       AND NOT EXISTS (SELECT 1 FROM job_queue.dead_jobs d WHERE d.id = r.id)
       AND NOT EXISTS (SELECT 1 FROM sample.effects e WHERE e.job_id = r.id)`,
    [recordIds],
  );
  return {
    ...counts,
    deadReasons: Object.fromEntries(reasons.map((r) => [r.failure_reason, r.n])),
    withEffect: effects.with_effect,
    duplicated: effects.duplicated,
    lost: lost.n,
  };
}

/** Every job of the whole database: the live rows, and the duplicate check over every effect. */
export async function totals(
  url: string,
): Promise<{ live: number; dead: number; effects: number; duplicateJobs: number }> {
  const [row] = await query<{ live: number; dead: number; effects: number; duplicate_jobs: number }>(
    url,
    `SELECT (SELECT count(*)::int FROM job_queue.jobs) AS live,
            (SELECT count(*)::int FROM job_queue.dead_jobs) AS dead,
            (SELECT count(*)::int FROM sample.effects) AS effects,
            (SELECT count(*)::int FROM (SELECT job_id FROM sample.effects GROUP BY job_id HAVING count(*) > 1) d) AS duplicate_jobs`,
  );
  return { live: row.live, dead: row.dead, effects: row.effects, duplicateJobs: row.duplicate_jobs };
}

/**
 * The verdict of every crash and chaos scenario: each of the `records` demo.record jobs ran its effect exactly once,
 * none is left or lost, and across the whole database no job left two effects (`deadJobs`: jobs the scenario sent to
 * the dead-letter table on purpose, none of them records).
 */
export function expectEveryRecordRanOnce(
  outcome: QueueOutcome,
  all: Awaited<ReturnType<typeof totals>>,
  records: number,
  deadJobs = 0,
): void {
  expect(outcome).toMatchObject({ live: 0, dead: 0, lost: 0, duplicated: 0, withEffect: records });
  expect(all).toEqual({ live: 0, dead: deadJobs, effects: records, duplicateJobs: 0 });
}

/** One line per scenario for the report: what was enqueued and what became of it. */
export function report(scenario: string, facts: Record<string, unknown>): void {
  const text = Object.entries(facts)
    .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v as string | number | boolean)}`)
    .join(' ');
  process.stdout.write(`e2e ${scenario}: ${text}\n`);
}
