import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedPostgres } from '../../apps/sample/src/database/embedded-postgres';

export type DatabaseSource = 'DATABASE_URL' | 'docker' | 'embedded';

/**
 * The PostgreSQL majors the compatibility run covers (`npm run test:postgres-versions`): the oldest the library
 * supports and the newest. The newest is the project's own embedded-postgres; an older major's package is installed
 * by that script outside the lockfile (its registry entry lists platform packages that were never published, which
 * `npm ci` cannot lock) and found through JOB_QUEUE_TEST_POSTGRES_PACKAGE.
 */
export const SUPPORTED_POSTGRES_MAJORS = ['13', '18'];
const BUNDLED_POSTGRES_MAJOR = '18';

function embeddedPackage(major: string, env: NodeJS.ProcessEnv): string {
  if (major === BUNDLED_POSTGRES_MAJOR) return 'embedded-postgres';
  const entry = env.JOB_QUEUE_TEST_POSTGRES_PACKAGE;
  if (!entry) throw new Error(`JOB_QUEUE_TEST_POSTGRES=${major}: run it through npm run test:postgres-versions`);
  return entry;
}

export interface ResolvedTestServer {
  source: DatabaseSource;
  /** A URL to a database on the server from which test databases are created. */
  url: string;
  stop(): Promise<void>;
}

export interface ResolverSteps {
  env: NodeJS.ProcessEnv;
  startDocker(): Promise<{ url: string; stop(): Promise<void> }>;
  /** `packageName`: the embedded-postgres package (or entry file URL) of another major than the bundled one. */
  startEmbedded(packageName?: string): Promise<{ url: string; stop(): Promise<void> }>;
  log(line: string): void;
}

/**
 * Picks the test server: an embedded server of the major that `JOB_QUEUE_TEST_POSTGRES` names (the compatibility
 * run), else DATABASE_URL, else a testcontainers PostgreSQL where Docker answers, else embedded.
 */
export async function resolveTestServer(steps: ResolverSteps): Promise<ResolvedTestServer> {
  const major = steps.env.JOB_QUEUE_TEST_POSTGRES;
  if (major) {
    if (!SUPPORTED_POSTGRES_MAJORS.includes(major)) {
      throw new Error(
        `JOB_QUEUE_TEST_POSTGRES=${major}: the tests can start PostgreSQL ${SUPPORTED_POSTGRES_MAJORS.join(' or ')}`,
      );
    }
    steps.log(`test database: embedded PostgreSQL ${major}`);
    return { source: 'embedded', ...(await steps.startEmbedded(embeddedPackage(major, steps.env))) };
  }
  if (steps.env.DATABASE_URL) {
    steps.log('test database: DATABASE_URL');
    return { source: 'DATABASE_URL', url: steps.env.DATABASE_URL, stop: async () => undefined };
  }
  try {
    const docker = await steps.startDocker();
    steps.log('test database: PostgreSQL in Docker (testcontainers)');
    return { source: 'docker', ...docker };
  } catch (error) {
    steps.log(`test database: no Docker (${firstLine(error)}); starting the embedded PostgreSQL`);
  }
  const embedded = await steps.startEmbedded();
  return { source: 'embedded', ...embedded };
}

export const defaultResolverSteps: ResolverSteps = {
  env: process.env,
  async startDocker() {
    const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
    const container = await new PostgreSqlContainer('postgres:16-alpine').start();
    return { url: container.getConnectionUri(), stop: async () => void (await container.stop()) };
  },
  async startEmbedded(packageName) {
    const dataDir = mkdtempSync(join(tmpdir(), 'job-queue-test-pg-'));
    const server = await startEmbeddedPostgres({ dataDir, port: await freePort(), packageName });
    return {
      url: server.url,
      async stop() {
        await server.stop();
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  },
  log: (line) => process.stdout.write(`${line}\n`),
};

function firstLine(error: unknown): string {
  return String((error as Error)?.message ?? error).split('\n')[0];
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
