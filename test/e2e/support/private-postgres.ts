import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../../../apps/sample/src/database/embedded-postgres';
import { freePort } from '../../support/test-database-resolver';

/**
 * A PostgreSQL server of the test's own (the project's embedded one, in a temporary folder, on a free port), for a
 * test that stops and starts the server under running instances: doing that to the machine's shared server would
 * cut every other test (and everyone else) off it.
 */
export class PrivatePostgres {
  private constructor(
    private server: EmbeddedDatabase | null,
    private readonly folder: string,
    readonly port: number,
  ) {}

  static async start(): Promise<PrivatePostgres> {
    const folder = mkdtempSync(join(tmpdir(), 'job-queue-private-pg-'));
    // As root the server runs as `postgres`, which must be able to enter the folder.
    chmodSync(folder, 0o777);
    try {
      const port = await freePort();
      return new PrivatePostgres(await startEmbeddedPostgres({ dataDir: folder, port }), folder, port);
    } catch (error) {
      rmSync(folder, { recursive: true, force: true });
      throw error;
    }
  }

  /** Its `postgres` database: the whole server is the test's. */
  get url(): string {
    return `postgres://postgres:postgres@127.0.0.1:${this.port}/postgres`;
  }

  /** A fast shutdown, as an administrator's restart or a failover's first half: sessions are ended, none accepted. */
  async stop(): Promise<void> {
    await this.server?.stop();
    this.server = null;
  }

  /** Starts the same cluster again, on the same port. */
  async start(): Promise<void> {
    if (!this.server) this.server = await startEmbeddedPostgres({ dataDir: this.folder, port: this.port });
  }

  async destroy(): Promise<void> {
    await this.stop().catch(() => undefined);
    rmSync(this.folder, { recursive: true, force: true });
  }
}
