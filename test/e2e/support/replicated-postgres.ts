import { execFileSync } from 'node:child_process';
import { appendFileSync, chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../../../apps/sample/src/database/embedded-postgres';
import { FreezableProxy } from '../../support/freezable-proxy';
import { query } from '../../support/sql';
import { freePort } from '../../support/test-database-resolver';
import { waitFor } from '../../support/wait-for';

/** The standby's name on the primary (`application_name` of its WAL receiver, `synchronous_standby_names`). */
export const STANDBY_NAME = 'failover_standby';

/**
 * A primary and a streaming standby of the project's embedded PostgreSQL on this machine, the standby's WAL stream
 * running through a proxy that can go silent (a network partition between the two).
 *
 * The embedded package ships `initdb`, `pg_ctl` and `postgres`, not `pg_basebackup`: the standby starts from a cold
 * copy of the primary's cluster taken while it is shut down, which is as valid a base backup as `pg_basebackup -R`
 * would take (same system identifier, same timeline, nothing to replay), plus the `standby.signal` and
 * `primary_conninfo` that `-R` writes.
 */
export class ReplicatedPostgres {
  private killed = false;

  private constructor(
    readonly primary: EmbeddedDatabase,
    readonly standby: EmbeddedDatabase,
    /** The standby's WAL stream passes through it: `partition()` makes it go silent. */
    private readonly link: FreezableProxy,
    private readonly folders: string[],
  ) {}

  static async start(): Promise<ReplicatedPostgres> {
    const folders = [folder('primary'), folder('standby')];
    const [primaryDir, standbyDir] = folders;
    const started: Array<{ stop(): Promise<void> }> = [];
    try {
      // A first start creates the cluster; a clean stop leaves it consistent for the copy.
      const first = await startEmbeddedPostgres({ dataDir: primaryDir, port: await freePort() });
      await first.stop();
      execFileSync('cp', ['-a', first.dataDir, join(standbyDir, 'pg')]);
      const primary = await startEmbeddedPostgres({ dataDir: primaryDir, port: first.port });
      started.push(primary);
      const link = await FreezableProxy.start(primary.url);
      started.push(link);
      const via = new URL(link.url);
      const standbyCluster = join(standbyDir, 'pg');
      writeFileSync(join(standbyCluster, 'standby.signal'), '');
      appendFileSync(
        join(standbyCluster, 'postgresql.auto.conf'),
        `primary_conninfo = 'host=${via.hostname} port=${via.port} user=postgres password=postgres application_name=${STANDBY_NAME}'\n`,
      );
      const standby = await startEmbeddedPostgres({ dataDir: standbyDir, port: await freePort() });
      started.push(standby);
      const pair = new ReplicatedPostgres(primary, standby, link, folders);
      await waitFor(
        'the standby streaming',
        async () => (await pair.replication()).some((r) => r.state === 'streaming'),
        30_000,
        100,
      );
      return pair;
    } catch (error) {
      for (const part of started.reverse()) await part.stop().catch(() => undefined);
      for (const dir of folders) rmSync(dir, { recursive: true, force: true });
      throw error;
    }
  }

  /** The primary's view of its standbys (`pg_stat_replication`). */
  replication(): Promise<Array<{ state: string; sync_state: string }>> {
    return query(this.primary.url, 'SELECT state, sync_state FROM pg_stat_replication');
  }

  /** Commits on the primary wait for the standby to flush them (a synchronous standby). */
  async makeSynchronous(): Promise<void> {
    await query(this.primary.url, `ALTER SYSTEM SET synchronous_standby_names = '${STANDBY_NAME}'`);
    await query(this.primary.url, 'SELECT pg_reload_conf()');
    await waitFor(
      'the standby synchronous',
      async () => (await this.replication()).some((r) => r.sync_state === 'sync'),
      15_000,
      50,
    );
  }

  /**
   * Waits until the standby has replayed everything the primary had written when this was called: every
   * transaction committed before the call is on the standby.
   */
  async caughtUp(): Promise<void> {
    const [{ lsn }] = await query<{ lsn: string }>(this.primary.url, 'SELECT pg_current_wal_lsn()::text AS lsn');
    await waitFor(
      `the standby replaying up to ${lsn}`,
      async () =>
        (
          await query<{ ok: boolean }>(this.standby.url, 'SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS ok', [lsn])
        )[0].ok,
      15_000,
      20,
    );
  }

  /** The WAL stream goes silent in both directions; returns how many replication connections it froze. */
  partition(): number {
    return this.link.freeze(STANDBY_NAME);
  }

  /** Ends every client session on the primary but the caller's, and waits until they are gone. */
  async endPrimarySessions(): Promise<void> {
    const others = `FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()`;
    await query(this.primary.url, `SELECT pg_terminate_backend(pid) ${others}`);
    await waitFor(
      'no session left on the old primary',
      async () => (await query<{ n: number }>(this.primary.url, `SELECT count(*)::int AS n ${others}`))[0].n === 0,
      10_000,
      20,
    );
  }

  /** Promotes the standby and waits until it accepts writes. */
  async promote(): Promise<void> {
    const [{ promoted }] = await query<{ promoted: boolean }>(
      this.standby.url,
      'SELECT pg_promote(true, 30) AS promoted',
    );
    if (!promoted) throw new Error('the standby did not promote within 30 s');
  }

  /** The primary dies at once (an immediate shutdown: no checkpoint, no goodbye to anyone). */
  async killPrimary(): Promise<void> {
    const pidFile = join(this.primary.dataDir, 'postmaster.pid');
    if (this.killed || !existsSync(pidFile)) return;
    this.killed = true;
    const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
    process.kill(pid, 'SIGQUIT');
    await waitFor('the old primary gone', () => !alive(pid), 15_000, 20);
  }

  async stop(): Promise<void> {
    await this.link.stop();
    await this.killPrimary().catch(() => undefined);
    await this.standby.stop().catch(() => undefined);
    for (const dir of this.folders) rmSync(dir, { recursive: true, force: true });
  }
}

/** A folder the `postgres` user can enter when the tests run as root. */
function folder(role: string): string {
  const dir = mkdtempSync(join(tmpdir(), `job-queue-failover-${role}-`));
  chmodSync(dir, 0o777);
  return dir;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
