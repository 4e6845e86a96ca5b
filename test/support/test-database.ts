import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { runJobQueueMigrations } from '@app/job-queue';

export interface TestDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

function serverUrl(): string {
  const url = process.env.JOB_QUEUE_TEST_SERVER_URL ?? process.env.DATABASE_URL;
  if (!url) throw new Error('No test server: run the tests through jest (global setup) or set DATABASE_URL');
  return url;
}

export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
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
    async drop() {
      const client = new Client({ connectionString: serverUrl() });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}
