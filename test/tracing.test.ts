import { Injectable, type INestApplicationContext } from '@nestjs/common';
import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';
import { JobHandler, JobProducer, type JobContext } from '@app/job-queue';
import { JobRepository } from '@app/job-queue/internal';
import { createTestDatabase, type TestDatabase } from './support/test-database';
import { startTestApp } from './support/test-app';
import { query } from './support/sql';
import { waitFor } from './support/wait-for';
import { deadRow } from './support/queue-probes';

// The app's side of tracing, as a user sets it up: an SDK tracer provider and an async-hooks context manager,
// registered globally; the library reaches them through @opentelemetry/api alone. Spans go to memory.
const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const tracer = trace.getTracer('tracing-test');

/** Ids of the spans each handler saw active, by job id and attempt: the handler ran inside its attempt's span. */
const activeInHandler = new Map<string, string | undefined>();

@Injectable()
class TracedHandlers {
  @JobHandler('trace.ok')
  async ok(_: unknown, ctx: JobContext) {
    activeInHandler.set(`${ctx.id}/${ctx.attempt}`, trace.getActiveSpan()?.spanContext().spanId);
    // What pg or http instrumentation would do inside the handler: a span of its own, which must nest under it.
    tracer.startActiveSpan('handler.work', (span) => span.end());
  }

  @JobHandler('trace.fail', { maxAttempts: 2 })
  async fail(_: unknown, ctx: JobContext) {
    activeInHandler.set(`${ctx.id}/${ctx.attempt}`, trace.getActiveSpan()?.spanContext().spanId);
    throw new Error(`attempt ${ctx.attempt} failed`);
  }

  @JobHandler('trace.tx', { transactional: true })
  async tx(_: unknown, ctx: JobContext) {
    activeInHandler.set(`${ctx.id}/${ctx.attempt}`, trace.getActiveSpan()?.spanContext().spanId);
    await ctx.manager!.query('SELECT 1');
  }
}

const processSpans = (jobId: string) =>
  exporter
    .getFinishedSpans()
    .filter((s) => s.name.startsWith('job.process ') && s.attributes['messaging.message.id'] === jobId)
    .sort((a, b) => Number(a.attributes['job_queue.job.attempt']) - Number(b.attributes['job_queue.job.attempt']));

const waitForAttempts = (jobId: string, count: number) =>
  waitFor(`${count} finished attempt span(s) of ${jobId}`, (): ReadableSpan[] | undefined => {
    const spans = processSpans(jobId);
    return spans.length >= count ? spans : undefined;
  });

const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;

/** One trace as an indented tree (name, kind, span id, parent): printed so that a run can be quoted. */
function printTrace(traceId: string): string {
  const spans = exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
  const ids = new Set(spans.map((s) => s.spanContext().spanId));
  const lines: string[] = [`trace ${traceId}`];
  const walk = (parent: string | undefined, depth: number) => {
    const children = spans
      .filter((s) => (parent === undefined ? !ids.has(parentOf(s) ?? '') : parentOf(s) === parent))
      .sort((a, b) => a.startTime[0] - b.startTime[0] || a.startTime[1] - b.startTime[1]);
    for (const s of children) {
      const attempt = s.attributes['job_queue.job.attempt'];
      const outcome = s.attributes['job_queue.job.outcome'];
      lines.push(
        `${'  '.repeat(depth + 1)}${s.name} [${SpanKind[s.kind]}] span=${s.spanContext().spanId} ` +
          `parent=${parentOf(s) ?? '-'}` +
          (attempt === undefined ? '' : ` attempt=${String(attempt)}`) +
          (outcome === undefined ? '' : ` outcome=${String(outcome)}`) +
          (s.status.code === SpanStatusCode.ERROR ? ` status=ERROR(${s.status.message})` : '') +
          (s.links.length ? ` links=${s.links.map((l) => l.context.spanId).join(',')}` : ''),
      );
      walk(s.spanContext().spanId, depth + 1);
    }
  };
  walk(undefined, 0);
  return lines.join('\n');
}

describe('OpenTelemetry traces from the enqueuing request to the handler', () => {
  let db: TestDatabase;
  let app: INestApplicationContext;
  let producer: JobProducer;
  const contextManager = new AsyncLocalStorageContextManager();

  /** Enqueues inside a SERVER span standing for the HTTP request that enqueues; returns the job id and the span. */
  const enqueueInRequest = (type: string, options: Parameters<JobProducer['enqueue']>[2] = {}) =>
    tracer.startActiveSpan('POST /signups', { kind: SpanKind.SERVER }, async (request) => {
      try {
        const { id } = await producer.enqueue(type, {}, options);
        return { id, request };
      } finally {
        request.end();
      }
    });

  beforeAll(async () => {
    context.setGlobalContextManager(contextManager.enable());
    trace.setGlobalTracerProvider(provider);
    db = await createTestDatabase();
    app = await startTestApp(
      { connectionUrl: db.url, pollIntervalMs: 50, retryDelayMs: 10, leaseMs: 1_000, recoveryIntervalMs: 100 },
      [TracedHandlers],
    );
    await app.init();
    producer = app.get(JobProducer);
  });

  afterAll(async () => {
    await app?.close();
    await db?.drop();
    await provider.shutdown();
    trace.disable();
    context.disable();
  });

  it('runs the handler in a CONSUMER span, child of the PRODUCER span of the enqueue, itself child of the request', async () => {
    const { id, request } = await enqueueInRequest('trace.ok');
    const [processed] = await waitForAttempts(id, 1);
    const requestId = request.spanContext();
    const enqueue = exporter
      .getFinishedSpans()
      .find((s) => s.name === 'job.enqueue trace.ok' && parentOf(s) === requestId.spanId);

    expect(enqueue).toBeDefined();
    expect(enqueue!.kind).toBe(SpanKind.PRODUCER);
    expect(enqueue!.spanContext().traceId).toBe(requestId.traceId);
    expect(enqueue!.attributes).toMatchObject({
      'messaging.system': 'nestjs-pg-job-queue',
      'messaging.operation': 'publish',
      'messaging.operation.type': 'send',
      'messaging.destination.name': 'default',
      'messaging.message.id': id,
      'job_queue.job.type': 'trace.ok',
    });

    expect(processed.kind).toBe(SpanKind.CONSUMER);
    expect(processed.name).toBe('job.process trace.ok');
    expect(processed.spanContext().traceId).toBe(requestId.traceId);
    expect(parentOf(processed)).toBe(enqueue!.spanContext().spanId);
    expect(processed.links.map((l) => l.context.spanId)).toEqual([enqueue!.spanContext().spanId]);
    expect(processed.status.code).toBe(SpanStatusCode.UNSET);
    expect(processed.attributes).toMatchObject({
      'messaging.system': 'nestjs-pg-job-queue',
      'messaging.operation': 'process',
      'messaging.operation.type': 'process',
      'messaging.destination.name': 'default',
      'messaging.message.id': id,
      'job_queue.job.type': 'trace.ok',
      'job_queue.job.attempt': 1,
      'job_queue.job.max_attempts': 5,
      'job_queue.job.outcome': 'completed',
    });

    // The handler ran inside its span: what it saw active, and the span it started, say so.
    expect(activeInHandler.get(`${id}/1`)).toBe(processed.spanContext().spanId);
    const work = exporter
      .getFinishedSpans()
      .find((s) => s.name === 'handler.work' && parentOf(s) === processed.spanContext().spanId);
    expect(work?.spanContext().traceId).toBe(requestId.traceId);

    console.log(`A request that enqueued one job, as exported:\n${printTrace(requestId.traceId)}`);
  });

  it('stores the enqueue span context in the row, W3C traceparent', async () => {
    // Delayed, so that the row is still there to read.
    const { id, request } = await enqueueInRequest('trace.ok', { delayMs: 3_600_000 });
    const enqueue = exporter.getFinishedSpans().find((s) => s.attributes['messaging.message.id'] === id)!;
    const [row] = await query<{ trace_context: { traceparent: string } }>(
      db.url,
      'SELECT trace_context FROM job_queue.jobs WHERE id = $1',
      [id],
    );
    expect(row.trace_context).toEqual({
      traceparent: `00-${request.spanContext().traceId}-${enqueue.spanContext().spanId}-01`,
    });
    await query(db.url, 'DELETE FROM job_queue.jobs WHERE id = $1', [id]);
  });

  it('records a failure (exception, status ERROR) and runs the retry in the same trace; the last attempt dead', async () => {
    const { id, request } = await enqueueInRequest('trace.fail');
    await waitFor('the job dead-lettered', () => deadRow(db.url, id));
    const [first, second] = await waitForAttempts(id, 2);
    const enqueueSpanId = parentOf(first);

    for (const [attempt, span] of [first, second].entries()) {
      expect(span.spanContext().traceId).toBe(request.spanContext().traceId);
      expect(parentOf(span)).toBe(enqueueSpanId);
      expect(span.attributes['job_queue.job.attempt']).toBe(attempt + 1);
      expect(span.status).toEqual({ code: SpanStatusCode.ERROR, message: `attempt ${attempt + 1} failed` });
      const exception = span.events.find((e) => e.name === 'exception');
      expect(exception?.attributes).toMatchObject({
        'exception.type': 'Error',
        'exception.message': `attempt ${attempt + 1} failed`,
      });
      expect(activeInHandler.get(`${id}/${attempt + 1}`)).toBe(span.spanContext().spanId);
    }
    expect(first.attributes['job_queue.job.outcome']).toBe('retried');
    expect(second.attributes['job_queue.job.outcome']).toBe('dead');
    console.log(`A job that failed twice, as exported:\n${printTrace(request.spanContext().traceId)}`);
  });

  it('joins the same trace from an attempt recovered after its lease expired', async () => {
    // Delayed so that this app's worker cannot take it; then it is made to look as a crashed instance left it:
    // claimed (attempt 1) long ago and never renewed. The rescuer returns it to pending, the worker runs attempt 2.
    const { id, request } = await enqueueInRequest('trace.ok', { delayMs: 3_600_000 });
    await query(
      db.url,
      `UPDATE job_queue.jobs SET status = 'processing', attempt_count = 1, locked_by = 'crashed',
              lock_token = gen_random_uuid(), locked_at = now() - interval '1 minute', next_retry_at = now()
       WHERE id = $1`,
      [id],
    );
    const [recovered] = await waitForAttempts(id, 1);
    expect(recovered.attributes['job_queue.job.attempt']).toBe(2);
    expect(recovered.attributes['job_queue.job.outcome']).toBe('completed');
    expect(recovered.spanContext().traceId).toBe(request.spanContext().traceId);
    const enqueue = exporter
      .getFinishedSpans()
      .find((s) => s.name === 'job.enqueue trace.ok' && s.attributes['messaging.message.id'] === id)!;
    expect(parentOf(recovered)).toBe(enqueue.spanContext().spanId);
  });

  it('runs a transactional handler inside its span too', async () => {
    const { id, request } = await enqueueInRequest('trace.tx');
    const [processed] = await waitForAttempts(id, 1);
    expect(processed.spanContext().traceId).toBe(request.spanContext().traceId);
    expect(processed.attributes['job_queue.job.outcome']).toBe('completed');
    expect(activeInHandler.get(`${id}/1`)).toBe(processed.spanContext().spanId);
  });

  it('stores no context and makes no enqueue span when no span is active; the attempt starts a trace of its own', async () => {
    const before = exporter.getFinishedSpans().filter((s) => s.name.startsWith('job.enqueue')).length;
    const { id } = await producer.enqueue('trace.ok', {}, { delayMs: 3_600_000 });
    const [row] = await query<{ trace_context: unknown }>(
      db.url,
      'SELECT trace_context FROM job_queue.jobs WHERE id = $1',
      [id],
    );
    expect(row.trace_context).toBeNull();
    expect(exporter.getFinishedSpans().filter((s) => s.name.startsWith('job.enqueue'))).toHaveLength(before);

    await query(db.url, 'UPDATE job_queue.jobs SET next_retry_at = now() WHERE id = $1', [id]);
    const [processed] = await waitForAttempts(id, 1);
    expect(processed.parentSpanContext).toBeUndefined();
    expect(processed.links).toEqual([]);
    expect(processed.attributes['job_queue.job.outcome']).toBe('completed');
  });

  it('stores the context on every job of a bulk enqueue (the COPY path, from 1,000 jobs)', async () => {
    // A queue no worker here serves: the rows stay to be read.
    const jobs = Array.from({ length: 1_200 }, (_, i) => ({ type: 'trace.ok', payload: { i }, queue: 'unserved' }));
    const batch = await tracer.startActiveSpan('bulk request', async (span) => {
      try {
        return { ids: (await producer.enqueueMany(jobs)).ids, traceId: span.spanContext().traceId };
      } finally {
        span.end();
      }
    });
    const rows = await query<{ trace_id: string | null }>(
      db.url,
      `SELECT split_part(trace_context->>'traceparent', '-', 2) AS trace_id FROM job_queue.jobs WHERE id = ANY($1)`,
      [batch.ids],
    );
    expect(rows).toHaveLength(1_200);
    expect(new Set(rows.map((r) => r.trace_id))).toEqual(new Set([batch.traceId]));
    await query(db.url, 'DELETE FROM job_queue.jobs WHERE id = ANY($1)', [batch.ids]);
  });

  it('carries each caller its own context through a grouped insert, and one context for an enqueueMany', async () => {
    // Concurrent enqueues outside any transaction share inserts (group commit): each job must keep its caller's
    // context, and a caller without a span none.
    const callers = Array.from({ length: 24 }, (_, i) => i);
    const results = await Promise.all(
      callers.map(async (i) => {
        if (i % 3 === 0)
          return { id: (await producer.enqueue('trace.ok', {}, { delayMs: 3_600_000 })).id, traceId: null };
        return tracer.startActiveSpan(`request ${i}`, async (span) => {
          try {
            // Every other caller with an idempotency key: the keyed statement carries the context too.
            const key = i % 3 === 1 ? { idempotencyKey: `trace-key-${i}` } : {};
            const { id } = await producer.enqueue('trace.ok', {}, { delayMs: 3_600_000, ...key });
            return { id, traceId: span.spanContext().traceId };
          } finally {
            span.end();
          }
        });
      }),
    );
    const batch = await tracer.startActiveSpan('batch request', async (span) => {
      try {
        const jobs = [1, 2, 3].map(() => ({ type: 'trace.ok', payload: {}, delayMs: 3_600_000 }));
        return { ids: (await producer.enqueueMany(jobs)).ids, traceId: span.spanContext().traceId };
      } finally {
        span.end();
      }
    });

    const rows = await query<{ id: string; trace_context: { traceparent: string } | null }>(
      db.url,
      'SELECT id, trace_context FROM job_queue.jobs WHERE id = ANY($1)',
      [[...results.map((r) => r.id), ...batch.ids]],
    );
    const stored = new Map(rows.map((r) => [r.id, r.trace_context?.traceparent.split('-')[1] ?? null]));
    for (const { id, traceId } of results) expect(stored.get(id)).toBe(traceId);
    for (const id of batch.ids) expect(stored.get(id)).toBe(batch.traceId);

    const batchSpan = exporter
      .getFinishedSpans()
      .find((s) => s.spanContext().traceId === batch.traceId && s.kind === SpanKind.PRODUCER);
    expect(batchSpan?.name).toBe('job.enqueue trace.ok');
    expect(batchSpan?.attributes['messaging.batch.message_count']).toBe(3);
    const spanIds = new Set(
      rows.filter((r) => batch.ids.includes(r.id)).map((r) => r.trace_context!.traceparent.split('-')[2]),
    );
    expect([...spanIds]).toEqual([batchSpan!.spanContext().spanId]);
    await query(db.url, 'DELETE FROM job_queue.jobs WHERE id = ANY($1)', [[...results.map((r) => r.id), ...batch.ids]]);
  });

  it('stores the context of an enqueue made in the caller transaction, and records a refused enqueue on its span', async () => {
    const { dataSource } = app.get(JobRepository);
    const { id, traceId } = await tracer.startActiveSpan('tx request', async (span) => {
      try {
        const { id } = await dataSource.transaction((manager) =>
          producer.enqueue('trace.ok', {}, { manager, delayMs: 3_600_000 }),
        );
        return { id, traceId: span.spanContext().traceId };
      } finally {
        span.end();
      }
    });
    const [row] = await query<{ trace_context: { traceparent: string } }>(
      db.url,
      'SELECT trace_context FROM job_queue.jobs WHERE id = $1',
      [id],
    );
    expect(row.trace_context.traceparent.split('-')[1]).toBe(traceId);
    await query(db.url, 'DELETE FROM job_queue.jobs WHERE id = $1', [id]);

    // A statement the database refuses (a transaction already aborted): the enqueue span says so.
    const failedTrace = await tracer.startActiveSpan('tx request failing', async (span) => {
      try {
        await dataSource
          .transaction(async (manager) => {
            await manager.query('SELECT 1/0').catch(() => undefined);
            await producer.enqueue('trace.ok', {}, { manager });
          })
          .catch(() => undefined);
        return span.spanContext().traceId;
      } finally {
        span.end();
      }
    });
    const refused = exporter
      .getFinishedSpans()
      .find((s) => s.spanContext().traceId === failedTrace && s.kind === SpanKind.PRODUCER);
    expect(refused?.status.code).toBe(SpanStatusCode.ERROR);
    expect(refused?.events.some((e) => e.name === 'exception')).toBe(true);
  });
});
