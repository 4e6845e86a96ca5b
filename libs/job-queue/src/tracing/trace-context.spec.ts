import { formatTraceparent, parseStoredTraceContext, toStoredTraceContext } from './trace-context';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN_ID = '00f067aa0ba902b7';

describe('stored trace context', () => {
  it('formats a sampled and an unsampled parent as W3C traceparent version 00', () => {
    expect(formatTraceparent({ traceId: TRACE_ID, spanId: SPAN_ID, traceFlags: 1 })).toBe(
      `00-${TRACE_ID}-${SPAN_ID}-01`,
    );
    expect(formatTraceparent({ traceId: TRACE_ID, spanId: SPAN_ID, traceFlags: 0 })).toBe(
      `00-${TRACE_ID}-${SPAN_ID}-00`,
    );
  });

  it('round-trips the parent and its tracestate', () => {
    const stored = toStoredTraceContext({ traceId: TRACE_ID, spanId: SPAN_ID, traceFlags: 1 }, 'congo=t61rcWkgMzE');
    expect(stored).toEqual({ traceparent: `00-${TRACE_ID}-${SPAN_ID}-01`, tracestate: 'congo=t61rcWkgMzE' });
    expect(parseStoredTraceContext(stored)).toEqual({
      traceId: TRACE_ID,
      spanId: SPAN_ID,
      traceFlags: 1,
      tracestate: 'congo=t61rcWkgMzE',
    });
  });

  it('stores nothing for an invalid span context (all-zero ids: no trace to join)', () => {
    expect(toStoredTraceContext({ traceId: '0'.repeat(32), spanId: SPAN_ID, traceFlags: 1 })).toBeNull();
    expect(toStoredTraceContext({ traceId: TRACE_ID, spanId: '0'.repeat(16), traceFlags: 1 })).toBeNull();
  });

  it('leaves out a tracestate longer than the spec allows', () => {
    const stored = toStoredTraceContext({ traceId: TRACE_ID, spanId: SPAN_ID, traceFlags: 1 }, 'a='.padEnd(9000, 'x'));
    expect(stored).toEqual({ traceparent: `00-${TRACE_ID}-${SPAN_ID}-01` });
  });

  it.each([
    ['null', null],
    ['a string', `00-${TRACE_ID}-${SPAN_ID}-01`],
    ['no traceparent', { tracestate: 'a=b' }],
    ['upper-case hex', { traceparent: `00-${TRACE_ID.toUpperCase()}-${SPAN_ID}-01` }],
    ['version ff', { traceparent: `ff-${TRACE_ID}-${SPAN_ID}-01` }],
    ['version 00 with a suffix', { traceparent: `00-${TRACE_ID}-${SPAN_ID}-01-extra` }],
    ['a zero trace id', { traceparent: `00-${'0'.repeat(32)}-${SPAN_ID}-01` }],
    ['a short span id', { traceparent: `00-${TRACE_ID}-00f067aa0ba902-01` }],
  ])('reads %s as no parent', (_, value) => {
    expect(parseStoredTraceContext(value)).toBeNull();
  });

  it('reads a later version by its first four fields', () => {
    expect(parseStoredTraceContext({ traceparent: `01-${TRACE_ID}-${SPAN_ID}-01-more` })).toEqual({
      traceId: TRACE_ID,
      spanId: SPAN_ID,
      traceFlags: 1,
    });
  });
});
