import { Injectable } from '@nestjs/common';
import { DuplicateJobHandlerError } from '../errors/job-queue.errors';
import { messages } from '../job-queue.messages';
import type { JobContext } from '../interfaces/job-context.interface';
import type { JobHandlerOptions } from '../interfaces/job-handler-options.interface';

export interface RegisteredJobHandler {
  type: string;
  options: JobHandlerOptions;
  /** `Class.method`, for messages. */
  name: string;
  run: (payload: unknown, ctx: JobContext) => Promise<unknown>;
}

/** The handlers found at start, by job type. */
@Injectable()
export class JobHandlerRegistry {
  private readonly handlers = new Map<string, RegisteredJobHandler>();

  add(handler: RegisteredJobHandler): void {
    const existing = this.handlers.get(handler.type);
    if (existing) {
      throw new DuplicateJobHandlerError(messages.duplicateHandler(handler.type, existing.name, handler.name));
    }
    this.handlers.set(handler.type, handler);
  }

  get(type: string): RegisteredJobHandler | undefined {
    return this.handlers.get(type);
  }

  types(): string[] {
    return [...this.handlers.keys()];
  }

  all(): RegisteredJobHandler[] {
    return [...this.handlers.values()];
  }
}
