import { JOB_EVENT_METADATA } from '../job-queue.constants';
import type { JobEventName } from '../interfaces/job-event.interface';

export interface JobEventMetadata {
  /** A job type, or `'*'` for every type. */
  type: string;
  events: JobEventName[];
}

/**
 * Marks a provider method as a hook: `(event: JobEvent) => unknown`, called after the job's outcome is committed.
 * A hook that throws or rejects is logged and changes nothing; hooks never delay the worker. A method may carry
 * several `@OnJobEvent`s.
 *
 * @example
 * @OnJobEvent('email.send', 'dead')
 * async alert(event: JobEvent) { await this.pager.page(`email ${event.id} dead: ${event.error}`); }
 */
export const OnJobEvent =
  (type: string, events: JobEventName | JobEventName[]): MethodDecorator =>
  (_target, _key, descriptor) => {
    const method = descriptor.value as object;
    const existing = (Reflect.getMetadata(JOB_EVENT_METADATA, method) as JobEventMetadata[] | undefined) ?? [];
    const entry: JobEventMetadata = { type, events: Array.isArray(events) ? [...events] : [events] };
    Reflect.defineMetadata(JOB_EVENT_METADATA, [...existing, entry], method);
    return descriptor;
  };
