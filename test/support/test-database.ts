import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { runJobQueueMigrations } from '@app/job-queue';

export interface TestDatabase {
  name: string;
  url: string;
  drop(options?: { graceMs?: number }): Promise<void>;
}

export function serverUrl(): string {
  const url = process.env.JOB_QUEUE_TEST_SERVER_URL ?? process.env.DATABASE_URL;
  if (!url) throw new Error('No test server: run the tests through jest (global setup) or set DATABASE_URL');
  return url;
}

export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

/** How long a drop waits for the database's connections to close before it terminates those left. */
const DROP_GRACE_MS = 5_000;

/**
 * Waits until no connection to `database` is left, at most `graceMs`. pg-pool's `end()` resolves before its clients'
 * connections have closed: terminating them at once (the drop's `FORCE`) would hit them mid-close, and their pool,
 * whose user no longer listens, would raise an unhandled error. What is still open after the grace was left open
 * (a leak, a killed process's backend not yet gone): it is named, and the drop terminates it.
 */
async function connectionsGone(admin: Client, database: string, graceMs: number): Promise<void> {
  const deadline = Date.now() + graceMs;
  for (;;) {
    const { rows } = await admin.query<{ application_name: string; state: string | null }>(
      'SELECT application_name, state FROM pg_stat_activity WHERE datname = $1',
      [database],
    );
    if (rows.length === 0) return;
    if (Date.now() >= deadline) {
      const open = rows.map((r) => `${r.application_name || '(no name)'} ${r.state ?? ''}`.trim()).join(', ');
      console.warn(
        `${database}: ${rows.length} connection(s) still open ${graceMs} ms after the test, terminated: ${open}`,
      );
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Creates a database of its own for one test file (so runs never see each other's rows), migrated unless told. */
export async function createTestDatabase(options: { migrate?: boolean; schema?: string } = {}): Promise<TestDatabase> {
  const name = `jq_test_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  const admin = new Client({ connectionString: serverUrl() });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  const url = withDatabase(serverUrl(), name);
  if (options.migrate !== false) {
    const dataSource = new DataSource({ type: 'postgres', url });
    await dataSource.initialize();
    await runJobQueueMigrations(dataSource, options.schema ?? 'job_queue');
    await dataSource.destroy();
  }
  return {
    name,
    url,
    async drop({ graceMs = DROP_GRACE_MS } = {}) {
      const client = new Client({ connectionString: serverUrl() });
      await client.connect();
      try {
        await connectionsGone(client, name, graceMs);
        await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}
