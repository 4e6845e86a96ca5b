import { Injectable, type INestApplicationContext } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { JobHandler, JobProducer } from '@app/job-queue';
import { JobNotifyListener } from '@app/job-queue/internal';
import { createTestDatabase, type TestDatabase } from './support/test-database';
import { startTestApp } from './support/test-app';
import { query } from './support/sql';
import { waitFor } from './support/wait-for';

/** 63 characters, the longest identifier PostgreSQL keeps whole: `<schema>_jobs` would be 68. */
const LONG_SCHEMA = 'tenant_job_queue_with_a_schema_name_as_long_as_postgres_allows1';
const done: string[] = [];

@Injectable()
class Handlers {
  @JobHandler('long.schema')
  async run(payload: { tag: string }) {
    done.push(payload.tag);
  }
}

/**
 * A schema name of 59 characters or more made `<schema>_jobs` longer than PostgreSQL's 63-byte limit: LISTEN cut
 * the channel short while pg_notify refused it, so workers were never woken, and an enqueue inside a transaction
 * (whose statement notifies) failed. The channel is now derived so that it always fits.
 */
describe('a schema name as long as PostgreSQL allows', () => {
  let db: TestDatabase;
  let app: INestApplicationContext | undefined;

  beforeAll(async () => {
    expect(LONG_SCHEMA).toHaveLength(63);
    db = await createTestDatabase({ schema: LONG_SCHEMA });
  });

  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  it('wakes workers by NOTIFY and enqueues inside a transaction', async () => {
    // A poll interval far longer than the test: only a notification can wake the worker in time.
    app = await startTestApp({ connectionUrl: db.url, schema: LONG_SCHEMA, pollIntervalMs: 600_000 }, [Handlers]);
    await app.init();
    await waitFor('listening', () => app!.get(JobNotifyListener).connected);
    const producer = app.get(JobProducer);

    await producer.enqueue('long.schema', { tag: 'plain' });
    await waitFor('the plain job run (woken by NOTIFY)', () => done.includes('plain'), 15_000);

    const dataSource = new DataSource({ type: 'postgres', url: db.url });
    await dataSource.initialize();
    try {
      await dataSource.transaction((manager) =>
        producer.enqueue('long.schema', { tag: 'in-transaction' }, { manager }),
      );
    } finally {
      await dataSource.destroy();
    }
    await waitFor('the job enqueued in a transaction run', () => done.includes('in-transaction'), 15_000);
    // Its row is deleted by the completion, written after the handler returned.
    await waitFor('its completion written', async () => {
      const [{ n }] = await query<{ n: number }>(db.url, `SELECT count(*)::int AS n FROM "${LONG_SCHEMA}".jobs`);
      return n === 0;
    });
  });
});
