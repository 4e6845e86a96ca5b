/**
 * The trace context a job carries from its enqueue to every attempt, in the `trace_context` column: the W3C Trace
 * Context headers (https://www.w3.org/TR/trace-context/) as a JSON object, the same carrier an HTTP request has.
 * Written and read here, not through the app's global propagator: a job outlives the process that enqueued it, and
 * every instance, whatever propagator it configured (or none), must read what any other wrote.
 */
export interface StoredTraceContext {
  traceparent: string;
  tracestate?: string;
}

/** The parts of a span context the codec needs (structurally `@opentelemetry/api`'s `SpanContext`). */
export interface TraceParent {
  traceId: string;
  spanId: string;
  traceFlags: number;
}

/** Version 00; a later version keeps these four fields first and may append more (the spec's forward rule). */
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const ZERO_TRACE_ID = '0'.repeat(32);
const ZERO_SPAN_ID = '0'.repeat(16);
/** tracestate is at most 32 list members of at most 256 characters each; anything longer is not stored. */
const MAX_TRACESTATE_LENGTH = 32 * 257;

export function formatTraceparent(parent: TraceParent): string {
  const flags = (parent.traceFlags & 0xff).toString(16).padStart(2, '0');
  return `00-${parent.traceId}-${parent.spanId}-${flags}`;
}

/** The stored context for a span context, or null when it is not a valid one (nothing worth carrying). */
export function toStoredTraceContext(parent: TraceParent, tracestate?: string): StoredTraceContext | null {
  if (!isValid(parent.traceId, parent.spanId)) return null;
  const stored: StoredTraceContext = { traceparent: formatTraceparent(parent) };
  if (tracestate && tracestate.length <= MAX_TRACESTATE_LENGTH) stored.tracestate = tracestate;
  return stored;
}

/**
 * The parent a stored context names, or null when the value is not a valid traceparent (a row written by hand, a
 * future format): the attempt then starts a trace of its own rather than failing the job.
 */
export function parseStoredTraceContext(stored: unknown): (TraceParent & { tracestate?: string }) | null {
  if (typeof stored !== 'object' || stored === null) return null;
  const { traceparent, tracestate } = stored as Partial<Record<keyof StoredTraceContext, unknown>>;
  if (typeof traceparent !== 'string') return null;
  const match = TRACEPARENT.exec(traceparent);
  if (!match) return null;
  const [, version, traceId, spanId, flags, rest] = match;
  if (version === 'ff' || (version === '00' && rest !== undefined) || !isValid(traceId, spanId)) return null;
  const parent: TraceParent & { tracestate?: string } = { traceId, spanId, traceFlags: parseInt(flags, 16) };
  if (typeof tracestate === 'string' && tracestate.length > 0) parent.tracestate = tracestate;
  return parent;
}

function isValid(traceId: string, spanId: string): boolean {
  return (
    /^[0-9a-f]{32}$/.test(traceId) &&
    /^[0-9a-f]{16}$/.test(spanId) &&
    traceId !== ZERO_TRACE_ID &&
    spanId !== ZERO_SPAN_ID
  );
}
