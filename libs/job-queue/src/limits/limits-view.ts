import type { JobLimits } from './job-limits';

/** One limited type as the admin shows it: its limits and what runs under them now, across all instances. */
export interface JobTypeLimits extends JobLimits {
  type: string;
  /** `processing` jobs of the type (a crashed instance's count until recovery takes them back). */
  running: number;
  /** `processing` jobs per `concurrencyKey` that has any running. */
  runningByKey: Record<string, number>;
}

/** Joins each limited type with its running counts (rows of `countRunningLimited`: `key` null is the type's total). */
export function limitsView(
  limited: Array<{ type: string; limits: JobLimits }>,
  running: Array<{ type: string; key: string | null; running: number }>,
): JobTypeLimits[] {
  const views = new Map<string, JobTypeLimits>();
  for (const { type, limits } of limited) views.set(type, { type, ...limits, running: 0, runningByKey: {} });
  for (const row of running) {
    const view = views.get(row.type);
    if (!view) continue;
    if (row.key === null) view.running = row.running;
    else view.runningByKey[row.key] = row.running;
  }
  return [...views.values()].sort((a, b) => (a.type < b.type ? -1 : a.type > b.type ? 1 : 0));
}
