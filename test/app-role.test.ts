import { randomBytes } from 'node:crypto';
import { Injectable, type LoggerService } from '@nestjs/common';
import { JobHandler, JobProducer } from '@app/job-queue';
import { createTestDatabase, serverUrl, type TestDatabase } from './support/test-database';
import { startTestApp } from './support/test-app';
import { query } from './support/sql';
import { waitFor } from './support/wait-for';
import { countJobs } from './support/queue-probes';

const ran: string[] = [];

@Injectable()
class RoleHandlers {
  @JobHandler('role.run')
  async run(payload: { tag: string }) {
    ran.push(payload.tag);
  }
}

/** Keeps what the app warned and erred about, so a denied statement in a background loop is seen too. */
class ProblemLogger implements LoggerService {
  readonly problems: string[] = [];
  log() {}
  debug() {}
  verbose() {}
  warn(message: unknown) {
    this.problems.push(String(message));
  }
  error(message: unknown, ...rest: unknown[]) {
    this.problems.push([message, ...rest].map(String).join(' '));
  }
}

/**
 * An app that runs as a role of its own, not the one that migrated: on PostgreSQL 15+ (and wherever `public` no
 * longer grants CREATE to everyone) it may use the queue's tables and read the migrations table, nothing more.
 */
describe('an app role that may only read and write the migrated tables', () => {
  const role = `jq_app_${randomBytes(4).toString('hex')}`;
  // A server that asks for a password (the embedded one does) gets this one; one that trusts local roles ignores it.
  const password = randomBytes(12).toString('hex');
  let db: TestDatabase;
  let url: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    await query(serverUrl(), `CREATE ROLE "${role}" LOGIN PASSWORD '${password}'`);
    for (const sql of [
      'REVOKE CREATE ON SCHEMA public FROM PUBLIC',
      `GRANT USAGE ON SCHEMA public, job_queue TO "${role}"`,
      `GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public, job_queue TO "${role}"`,
      `GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public, job_queue TO "${role}"`,
    ])
      await query(db.url, sql);
    const parsed = new URL(db.url);
    parsed.username = role;
    parsed.password = password;
    url = parsed.toString();
  });

  afterAll(async () => {
    // The database holds the role's grants: it goes first, then the role.
    await db?.drop();
    await query(serverUrl(), `DROP ROLE IF EXISTS "${role}"`);
  });

  it('has no CREATE on any schema of the database (the premise of the tests below)', async () => {
    const rows = await query<{ schema: string }>(
      url,
      `SELECT nspname AS schema FROM pg_namespace WHERE has_schema_privilege(oid, 'CREATE')`,
    );
    expect(rows).toEqual([]);
  });

  it.each([true, false])('starts with runMigrations: %s, and runs jobs', async (runMigrations) => {
    const logger = new ProblemLogger();
    const app = await startTestApp(
      { connectionUrl: url, runMigrations, concurrency: 2, pollIntervalMs: 50 },
      [RoleHandlers],
      logger,
    );
    try {
      const tag = `migrations-${runMigrations}`;
      await app.get(JobProducer).enqueue('role.run', { tag });
      await waitFor('the job ran', async () => ran.includes(tag) && (await countJobs(db.url)) === 0, 60_000);
      expect(logger.problems.filter((p) => /permission denied|must be owner/i.test(p))).toEqual([]);
    } finally {
      await app.close();
    }
  });
});
