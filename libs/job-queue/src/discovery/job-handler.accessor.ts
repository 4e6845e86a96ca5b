import { Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { JOB_HANDLER_METADATA } from '../job-queue.constants';
import type { JobHandlerMetadata } from './job-handler.decorator';

/** Reads `@JobHandler` metadata off a method. */
@Injectable()
export class JobHandlerMetadataAccessor {
  constructor(private readonly reflector: Reflector) {}

  getMetadata(target: (...args: unknown[]) => unknown): JobHandlerMetadata | undefined {
    return this.reflector.get<JobHandlerMetadata>(JOB_HANDLER_METADATA, target);
  }
}
