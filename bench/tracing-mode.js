'use strict';
// BENCH_TRACING: how our library meets OpenTelemetry in a run, so that the cost of tracing can be measured.
// - `api` (default): as this repo installs it: @opentelemetry/api is there (prom-client depends on it), no SDK
//   registered, so every span is the API's no-op one;
// - `absent`: the library does not find @opentelemetry/api (its require throws MODULE_NOT_FOUND, as in an app that
//   does not have it; prom-client, which needs it, still loads it);
// - `sdk`: an SDK tracer provider (always sampled, a batch processor, an exporter that drops every span) and an
//   async-hooks context manager are registered, and bulk enqueues run inside a span, so every job carries a context
//   and every attempt records a span that is its child.
const path = require('node:path');
const Module = require('node:module');

const REPO = path.resolve(__dirname, '..');
const LIBRARY = path.join(REPO, 'libs', 'job-queue');
const MODE = process.env.BENCH_TRACING || 'api';
if (!['api', 'absent', 'sdk'].includes(MODE)) throw new Error(`BENCH_TRACING must be api, absent or sdk: ${MODE}`);

let tracer = null;

function applyTracingMode() {
  if (MODE === 'absent') {
    const resolve = Module._resolveFilename;
    Module._resolveFilename = function (request, parent, ...rest) {
      if (request === '@opentelemetry/api' && parent && parent.filename && parent.filename.startsWith(LIBRARY)) {
        const error = new Error(`Cannot find module '@opentelemetry/api'`);
        error.code = 'MODULE_NOT_FOUND';
        throw error;
      }
      return resolve.call(this, request, parent, ...rest);
    };
  } else if (MODE === 'sdk') {
    const fromRepo = (name) => require(require.resolve(name, { paths: [REPO] }));
    const api = fromRepo('@opentelemetry/api');
    const { BasicTracerProvider, BatchSpanProcessor } = fromRepo('@opentelemetry/sdk-trace-base');
    const { AsyncLocalStorageContextManager } = fromRepo('@opentelemetry/context-async-hooks');
    const dropAll = { export: (spans, done) => done({ code: 0 }), shutdown: async () => undefined };
    const provider = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(dropAll)] });
    api.context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    api.trace.setGlobalTracerProvider(provider);
    tracer = api.trace.getTracer('bench');
  }
}

/** Runs `work` inside an active span when an SDK is registered (`sdk`), as it is otherwise. */
function inSpan(name, work) {
  if (!tracer) return work();
  return tracer.startActiveSpan(name, async (span) => {
    try {
      return await work();
    } finally {
      span.end();
    }
  });
}

module.exports = { TRACING_MODE: MODE, applyTracingMode, inSpan };
