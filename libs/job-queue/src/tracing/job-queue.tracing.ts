import { Injectable } from '@nestjs/common';
import type * as OpenTelemetryApi from '@opentelemetry/api';
import type { ClaimedJob } from '../job.repository';
import type { AttemptOutcome } from '../observability/job-queue.metrics';
import { UNTRACED_ATTEMPT, type AttemptTrace } from './attempt-trace';
import { loadOpenTelemetry } from './opentelemetry.loader';
import { parseStoredTraceContext, toStoredTraceContext } from './trace-context';

type Api = typeof OpenTelemetryApi;
type Span = OpenTelemetryApi.Span;
type Context = OpenTelemetryApi.Context;

/** The instrumentation scope of every span the queue starts. */
export const TRACER_NAME = 'nestjs-pg-job-queue';

/** `messaging.system`: no registered value fits a queue in PostgreSQL tables, so the package names itself. */
const MESSAGING_SYSTEM = 'nestjs-pg-job-queue';

/** A job as the enqueue span describes it. */
interface EnqueuedJob {
  type: string;
  queue: string;
}

/**
 * OpenTelemetry tracing of the queue, through `@opentelemetry/api` alone (the app brings the SDK and exporters):
 * - an enqueue made while a span is active gets a PRODUCER span `job.enqueue <type>`, a child of that span, and each
 *   job stores that span's context (W3C traceparent and tracestate) in its `trace_context` column; with no active
 *   span nothing is stored and no span is made;
 * - each attempt runs in a CONSUMER span `job.process <type>` whose parent is the stored context, with a link to it
 *   as well (see `attemptStarted`); retries and recovered attempts read the same column, so they join the same trace.
 * Without the API installed, every method is a no-op.
 */
@Injectable()
export class JobQueueTracing {
  private readonly api: Api | undefined = loadOpenTelemetry();
  /**
   * The API's proxy tracer, got once (getting one allocates): it forwards to the SDK the app registers, even one
   * registered after this module started.
   */
  private readonly tracer = this.api?.trace.getTracer(TRACER_NAME);
  /**
   * The API's own no-op provider: the global proxy's delegate while no SDK is registered. Then an attempt with no
   * stored parent gets a span that records nothing and carries no trace, and building its attributes, links and
   * span would cost a few allocations per job for nothing (see `startAttempt`).
   */
  private readonly noopProvider = this.api && new this.api.ProxyTracerProvider().getDelegate();

  /**
   * Runs `insert`, giving it the context each job is to store (JSON text), or null when no span is active. When one
   * is, the insert runs inside a PRODUCER span that records the ids it returns, or its error.
   */
  async enqueue(jobs: EnqueuedJob[], insert: (traceContext: string | null) => Promise<string[]>): Promise<string[]> {
    const api = this.api;
    const started = api && this.startEnqueue(api, jobs);
    if (!api || !started) return insert(null);
    const { span, context, stored } = started;
    try {
      const ids = await api.context.with(context, () => insert(stored));
      if (ids.length === 1) span.setAttribute('messaging.message.id', ids[0]);
      return ids;
    } catch (error) {
      recordFailure(api, span, error);
      throw error;
    } finally {
      span.end();
    }
  }

  /** The enqueue's span, its context and the JSON to store; null when no span is active (or tracing failed). */
  private startEnqueue(api: Api, jobs: EnqueuedJob[]): { span: Span; context: Context; stored: string | null } | null {
    // Tracing never fails an enqueue: whatever the API or an SDK throws, the job is enqueued untraced.
    try {
      const active = api.context.active();
      const parent = api.trace.getSpanContext(active);
      if (!parent || !api.trace.isSpanContextValid(parent)) return null;
      const span = this.tracer!.startSpan(
        enqueueSpanName(jobs),
        { kind: api.SpanKind.PRODUCER, attributes: enqueueAttributes(jobs) },
        active,
      );
      // Without an SDK (or when sampled out) the span is non-recording and carries its parent's trace: the job then
      // stores that, and its attempts still join the caller's trace.
      const own = span.spanContext();
      const stored = toStoredTraceContext(own, own.traceState?.serialize());
      return { span, context: api.trace.setSpan(active, span), stored: stored ? JSON.stringify(stored) : null };
    } catch {
      return null;
    }
  }

  /**
   * Starts an attempt's CONSUMER span. Its parent is the context stored at enqueue (the enqueue span), so a request,
   * its enqueue and every attempt read as one tree; it also links to that context, as the messaging conventions ask
   * of consumer spans (a link is what survives when a backend splits a trace that ran for hours, across retries).
   * A job stored without context starts a trace of its own. The attempt's span is never a child of whatever context
   * the claim loop happens to run in.
   */
  attemptStarted(job: ClaimedJob): AttemptTrace {
    const api = this.api;
    if (!api) return UNTRACED_ATTEMPT;
    // Tracing never fails an attempt: whatever the API or an SDK throws, the job runs untraced.
    try {
      return this.startAttempt(api, job);
    } catch {
      return UNTRACED_ATTEMPT;
    }
  }

  private startAttempt(api: Api, job: ClaimedJob): AttemptTrace {
    const stored = parseStoredTraceContext(job.trace_context);
    if (!stored && this.noSdk(api)) return UNTRACED_ATTEMPT;
    let parent: Context = api.ROOT_CONTEXT;
    const links: OpenTelemetryApi.Link[] = [];
    if (stored) {
      const spanContext: OpenTelemetryApi.SpanContext = {
        traceId: stored.traceId,
        spanId: stored.spanId,
        traceFlags: stored.traceFlags,
        isRemote: true,
        traceState: stored.tracestate ? api.createTraceState(stored.tracestate) : undefined,
      };
      parent = api.trace.setSpanContext(parent, spanContext);
      links.push({ context: spanContext });
    }
    const span = this.tracer!.startSpan(
      `job.process ${job.type}`,
      {
        kind: api.SpanKind.CONSUMER,
        attributes: {
          'messaging.system': MESSAGING_SYSTEM,
          'messaging.operation': 'process',
          'messaging.operation.type': 'process',
          'messaging.operation.name': 'process',
          'messaging.destination.name': job.queue,
          'messaging.message.id': job.id,
          'job_queue.job.type': job.type,
          'job_queue.job.attempt': job.attempt_count,
          'job_queue.job.max_attempts': job.max_attempts,
        },
        links,
      },
      parent,
    );
    // No SDK and no stored parent: a span that records nothing and carries no trace; running the handler inside it
    // would only cost a context switch per job.
    if (!stored && !span.isRecording()) return UNTRACED_ATTEMPT;
    return new OpenTelemetryAttempt(api, span, api.trace.setSpan(parent, span));
  }

  /** No SDK is registered: the global tracer provider is the API's proxy with no delegate. */
  private noSdk(api: Api): boolean {
    const provider = api.trace.getTracerProvider();
    return isProxyOf(provider) && provider.getDelegate() === this.noopProvider;
  }
}

/**
 * Read per attempt, never cached: an app may register its SDK after this module started. A global provider of
 * another copy of the API (not a proxy of this one) counts as an SDK: the attempt then takes the full path.
 */
function isProxyOf(provider: unknown): provider is OpenTelemetryApi.ProxyTracerProvider {
  return typeof (provider as { getDelegate?: unknown }).getDelegate === 'function';
}

class OpenTelemetryAttempt implements AttemptTrace {
  private failure = false;
  private ended = false;

  constructor(
    private readonly api: Api,
    private readonly span: Span,
    private readonly context: Context,
  ) {}

  run<T>(work: () => T): T {
    return this.api.context.with(this.context, work);
  }

  failed(error: unknown): void {
    if (this.ended || this.failure) return;
    this.failure = true;
    recordFailure(this.api, this.span, error);
  }

  finished(outcome: AttemptOutcome): void {
    if (this.ended) return;
    this.ended = true;
    this.span.setAttribute('job_queue.job.outcome', outcome);
    // An attempt that did not complete failed, whatever the reason (a lease lost, a release at shutdown), even
    // when no error of the handler says so.
    if (outcome !== 'completed' && !this.failure) {
      this.span.setStatus({ code: this.api.SpanStatusCode.ERROR, message: outcome });
    }
    this.span.end();
  }
}

function recordFailure(api: Api, span: Span, error: unknown): void {
  const message = error instanceof Error ? error.message : String(error);
  span.recordException(error instanceof Error ? error : message);
  span.setStatus({ code: api.SpanStatusCode.ERROR, message });
}

function enqueueSpanName(jobs: EnqueuedJob[]): string {
  const type = jobs[0].type;
  return jobs.every((job) => job.type === type) ? `job.enqueue ${type}` : 'job.enqueue';
}

function enqueueAttributes(jobs: EnqueuedJob[]): OpenTelemetryApi.Attributes {
  const attributes: OpenTelemetryApi.Attributes = {
    'messaging.system': MESSAGING_SYSTEM,
    'messaging.operation': 'publish',
    'messaging.operation.type': 'send',
    'messaging.operation.name': 'enqueue',
  };
  const { type, queue } = jobs[0];
  if (jobs.every((job) => job.queue === queue)) attributes['messaging.destination.name'] = queue;
  if (jobs.every((job) => job.type === type)) attributes['job_queue.job.type'] = type;
  if (jobs.length > 1) attributes['messaging.batch.message_count'] = jobs.length;
  return attributes;
}
