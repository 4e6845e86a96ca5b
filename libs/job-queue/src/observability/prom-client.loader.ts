import type * as PromClient from 'prom-client';

/**
 * prom-client is an optional peer: the queue's metrics go to its default registry when the app has it installed
 * (`@willsoto/nestjs-prometheus` brings it), and are counted nowhere when it does not. Required lazily, so that an
 * app without it still loads the module. A prom-client that is present but fails to load is not hidden.
 */
export function loadPromClient(): typeof PromClient | undefined {
  try {
    // A static import would make prom-client required; only require() can be attempted and caught.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require('prom-client') as typeof PromClient;
  } catch (error) {
    const e = error as { code?: string; message?: string };
    if (e.code === 'MODULE_NOT_FOUND' && e.message?.includes("'prom-client'")) return undefined;
    throw error;
  }
}
