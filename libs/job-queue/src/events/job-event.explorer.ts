import { Injectable, type OnModuleInit } from '@nestjs/common';
import { DiscoveryService, MetadataScanner } from '@nestjs/core';
import type { InstanceWrapper } from '@nestjs/core/injector/instance-wrapper';
import { JobQueueConfigError } from '../errors/job-queue.errors';
import { JOB_EVENT_METADATA, JOB_TYPE_PATTERN } from '../job-queue.constants';
import { messages } from '../job-queue.messages';
import { JOB_EVENT_NAMES, type JobEvent } from '../interfaces/job-event.interface';
import type { JobEventMetadata } from './job-event.decorator';
import { JobEventDispatcher } from './job-event.dispatcher';
import { JobQueueDatabase } from '../job-queue.database';

/** Walks the app's providers at module init and registers every `@OnJobEvent` method with the dispatcher. */
@Injectable()
export class JobEventExplorer implements OnModuleInit {
  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly dispatcher: JobEventDispatcher,
    private readonly database: JobQueueDatabase,
  ) {}

  onModuleInit(): Promise<void> {
    return this.database.startupStep(() => {
      for (const wrapper of this.discovery.getProviders()) this.explore(wrapper);
    });
  }

  private explore(wrapper: InstanceWrapper): void {
    const instance: unknown = wrapper.instance;
    // Request-scoped and not-yet-resolved providers have no singleton to call.
    if (!instance || typeof instance !== 'object' || !wrapper.isDependencyTreeStatic()) return;
    const prototype = Object.getPrototypeOf(instance) as Record<string, unknown>;
    for (const methodName of this.scanner.getAllMethodNames(prototype)) {
      const method = prototype[methodName];
      if (typeof method !== 'function') continue;
      const entries = Reflect.getMetadata(JOB_EVENT_METADATA, method) as JobEventMetadata[] | undefined;
      if (!entries) continue;
      const name = `${instance.constructor.name}.${methodName}`;
      for (const entry of entries) {
        validate(entry, name);
        this.dispatcher.add({
          type: entry.type,
          events: entry.events,
          name,
          run: (event: JobEvent) => (method as (event: JobEvent) => unknown).call(instance, event),
        });
      }
    }
  }
}

function validate(entry: JobEventMetadata, where: string): void {
  if (typeof entry.type !== 'string' || (entry.type !== '*' && !JOB_TYPE_PATTERN.test(entry.type))) {
    throw new JobQueueConfigError(
      'OnJobEvent',
      messages.invalidHook(
        where,
        `the type must be '*' or match ${JOB_TYPE_PATTERN}, got ${JSON.stringify(entry.type)}`,
      ),
    );
  }
  if (entry.events.length === 0 || entry.events.some((e) => !JOB_EVENT_NAMES.includes(e))) {
    throw new JobQueueConfigError(
      'OnJobEvent',
      messages.invalidHook(
        where,
        `events must be among ${JOB_EVENT_NAMES.join(', ')}, got ${JSON.stringify(entry.events)}`,
      ),
    );
  }
}
