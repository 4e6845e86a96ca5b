/**
 * A health indicator's result in the shape Terminus reads (`{ [key]: { status, ...data } }`). Built here rather
 * than with Terminus' `HealthIndicatorService`, because Terminus is an optional peer: the indicator must load, and
 * its declarations compile, in an app that does not have it.
 */
export type JobQueueHealthResult<Key extends string = 'job_queue'> = {
  [K in Key]: { status: 'up' | 'down'; [data: string]: unknown };
};

/** `check(key).up(data)` / `.down(data)`, as Terminus' `HealthIndicatorService` has them. */
export function healthCheck<const Key extends string>(key: Key) {
  const result = (status: 'up' | 'down', data: Record<string, unknown>) =>
    ({ [key]: { status, ...data } }) as JobQueueHealthResult<Key>;
  return {
    up: (data: Record<string, unknown> = {}) => result('up', data),
    down: (data: Record<string, unknown> = {}) => result('down', data),
  };
}
