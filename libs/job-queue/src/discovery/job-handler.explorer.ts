import { Injectable, type OnModuleInit } from '@nestjs/common';
import { DiscoveryService, MetadataScanner } from '@nestjs/core';
import type { InstanceWrapper } from '@nestjs/core/injector/instance-wrapper';
import { JobQueueConfigError } from '../errors/job-queue.errors';
import { JOB_TYPE_PATTERN } from '../job-queue.constants';
import { messages } from '../job-queue.messages';
import type { JobContext } from '../interfaces/job-context.interface';
import { validateBackoff } from '../job-queue-options.resolver';
import { validateHandlerSchedule } from '../schedules/handler-schedule.validator';
import { limitsOf } from '../limits/job-limits';
import { JobHandlerMetadataAccessor } from './job-handler.accessor';
import { JobHandlerRegistry } from './job-handler.registry';
import { JobQueueDatabase } from '../job-queue.database';

/** A method that carries @JobHandler metadata, as the registry calls it. */
type HandlerMethod = (payload: unknown, ctx: JobContext) => Promise<void>;

/** Walks the app's providers at module init and registers every `@JobHandler` method. */
@Injectable()
export class JobHandlerExplorer implements OnModuleInit {
  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly accessor: JobHandlerMetadataAccessor,
    private readonly registry: JobHandlerRegistry,
    private readonly database: JobQueueDatabase,
  ) {}

  onModuleInit(): Promise<void> {
    return this.database.startupStep(() => {
      const providers = this.discovery.getProviders();
      // Each forRoot() is a module instance of its own, with its own poller: two would compete, so refuse.
      if (providers.filter((w) => w.metatype === JobHandlerExplorer).length > 1) {
        throw new JobQueueConfigError('forRoot', messages.secondForRoot());
      }
      for (const wrapper of providers) this.explore(wrapper);
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
      const metadata = this.accessor.getMetadata(method as (...args: unknown[]) => unknown);
      if (!metadata) continue;
      const name = `${instance.constructor.name}.${methodName}`;
      if (typeof metadata.type !== 'string' || !JOB_TYPE_PATTERN.test(metadata.type)) {
        throw new JobQueueConfigError('JobHandler', messages.invalidHandlerType(metadata.type, name));
      }
      validateHandlerOptions(metadata.options as Record<string, unknown>, name);
      validateHandlerSchedule(metadata.type, metadata.options.schedule, name);
      this.registry.add({
        type: metadata.type,
        options: metadata.options,
        name,
        run: (payload, ctx) => (method as HandlerMethod).call(instance, payload, ctx),
      });
    }
  }
}

function validateHandlerOptions(options: Record<string, unknown>, where: string): void {
  const positive = (key: string, max: number) => {
    const value = options[key];
    if (value === undefined) return;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) {
      throw new JobQueueConfigError(
        `${where} ${key}`,
        `@JobHandler on ${where}: ${key} must be an integer from 1 to ${max}`,
      );
    }
  };
  positive('concurrency', 10_000);
  positive('maxAttempts', 1_000_000);
  positive('timeoutMs', 2_147_483_647);
  if (options.maxSnoozes !== undefined) {
    const value = options.maxSnoozes;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 1_000_000) {
      throw new JobQueueConfigError(
        `${where} maxSnoozes`,
        `@JobHandler on ${where}: maxSnoozes must be an integer from 0 to 1000000`,
      );
    }
  }
  limitsOf(options, where);
  if (options.transactional !== undefined && typeof options.transactional !== 'boolean') {
    throw new JobQueueConfigError(`${where} transactional`, `@JobHandler on ${where}: transactional must be a boolean`);
  }
  if (options.backoff !== undefined) {
    try {
      validateBackoff(options.backoff, 'backoff');
    } catch (error) {
      const { option } = error as JobQueueConfigError;
      const reason = (error as Error).message.replace(/^JobQueueModule option "[^"]*" /, '');
      throw new JobQueueConfigError(`${where} ${option}`, `@JobHandler on ${where}: ${option} ${reason}`);
    }
  }
}
