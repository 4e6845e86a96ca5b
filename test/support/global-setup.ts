import { randomUUID } from 'node:crypto';
import { defaultResolverSteps, resolveTestServer } from './test-database-resolver';

/** One PostgreSQL server for the whole run; each test file creates (and drops) a database of its own on it. */
export default async function globalSetup(): Promise<void> {
  const server = await resolveTestServer(defaultResolverSteps);
  process.env.JOB_QUEUE_TEST_SERVER_URL = server.url;
  // One id per jest run: the end-to-end suite builds the sample app at most once per run (test/e2e/support).
  process.env.JOB_QUEUE_TEST_RUN_ID = randomUUID();
  (globalThis as { __jobQueueTestServer?: typeof server }).__jobQueueTestServer = server;
}
