import type { JobHandlerRegistry } from '../discovery/job-handler.registry';

/** The label value of every type this instance has no handler for, and of every queue it is not configured for. */
export const OTHER_LABEL = 'other';

/**
 * Label values come from this instance's own configuration, never from what a producer sent: job types and queue
 * names arrive from callers (an HTTP client, another service's rows in the shared tables), and each distinct value
 * would be a new time series kept for the life of the process. So a type is its own label only when a handler of
 * this instance runs it, and a queue only when this instance serves it; everything else counts as `other`.
 */
export class MetricLabels {
  private readonly queues: ReadonlySet<string>;

  constructor(
    queues: readonly string[],
    private readonly registry: Pick<JobHandlerRegistry, 'get'>,
  ) {
    this.queues = new Set(queues);
  }

  queue(queue: string): string {
    return this.queues.has(queue) ? queue : OTHER_LABEL;
  }

  type(type: string): string {
    // Looked up per call: handlers are registered at module init, after this object exists.
    return this.registry.get(type) ? type : OTHER_LABEL;
  }

  of(job: { queue: string; type: string }): { queue: string; type: string } {
    return { queue: this.queue(job.queue), type: this.type(job.type) };
  }
}
