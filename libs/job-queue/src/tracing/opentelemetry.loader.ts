import type * as OpenTelemetryApi from '@opentelemetry/api';

/**
 * `@opentelemetry/api` is an optional peer: with it, enqueues and attempts are traced through whatever tracer the app
 * registered (none registered: the API's no-op tracer, which records nothing); without it, tracing is off and costs
 * nothing. Required lazily, as prom-client is, so that an app without it still loads the module. An API that is
 * present but fails to load is not hidden.
 */
export function loadOpenTelemetry(): typeof OpenTelemetryApi | undefined {
  try {
    // A static import would make the API required; only require() can be attempted and caught.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require('@opentelemetry/api') as typeof OpenTelemetryApi;
  } catch (error) {
    const e = error as { code?: string; message?: string };
    if (e.code === 'MODULE_NOT_FOUND' && e.message?.includes("'@opentelemetry/api'")) return undefined;
    throw error;
  }
}
