import { Injectable, Module, type INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { JobHandler, JobProducer, JobQueueModule } from '@app/job-queue';
import { CapturingLogger } from './support/capturing-logger';
import { createTestDatabase, type TestDatabase } from './support/test-database';
import { jobRow } from './support/queue-probes';
import { query } from './support/sql';
import { waitFor } from './support/wait-for';

const INSTANCE = 'transient-errors';
/** The server's own database: the test database refuses writes (ALTER DATABASE included) while it is read-only. */
const serverUrl = () => (process.env.JOB_QUEUE_TEST_SERVER_URL ?? process.env.DATABASE_URL)!;
let runs = 0;
let openGate: () => void = () => undefined;

@Injectable()
class GatedHandlers {
  @JobHandler('transient.gated')
  async run() {
    runs += 1;
    await new Promise<void>((resolve) => (openGate = resolve));
  }
}

/**
 * A failover makes the database read-only for a while (the old primary, or a standby not yet promoted, answers
 * 25006). A job that finished meanwhile must have its completion retried until the database takes writes again,
 * not given up as if its row were bad (which would leave it to the rescuer and run it twice).
 */
describe('transient errors', () => {
  let db: TestDatabase;
  let app: INestApplicationContext | undefined;

  beforeAll(async () => {
    db = await createTestDatabase();
  });

  afterAll(async () => {
    openGate();
    await app?.close();
    await query(serverUrl(), `ALTER DATABASE "${db.name}" RESET default_transaction_read_only`).catch(() => undefined);
    await db?.drop();
  });

  /** New sessions of the test database start read-only (or not); the app's sessions are ended so that it reconnects. */
  async function setReadOnly(on: boolean): Promise<void> {
    await query(
      serverUrl(),
      `ALTER DATABASE "${db.name}" ${on ? 'SET default_transaction_read_only = on' : 'RESET default_transaction_read_only'}`,
    );
    await query(serverUrl(), `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`, [
      `job-queue:${INSTANCE}`,
    ]);
  }

  it('retries a completion refused while the database is read-only, and writes it once it takes writes again', async () => {
    @Module({
      imports: [
        JobQueueModule.forRoot({
          connectionUrl: db.url,
          instanceId: INSTANCE,
          pollOnly: true,
          pollIntervalMs: 50,
          leaseMs: 60_000,
        }),
      ],
      providers: [GatedHandlers],
    })
    class AppModule {}
    const logger = new CapturingLogger();
    app = await NestFactory.createApplicationContext(AppModule, { logger, abortOnError: false });
    const { id } = await app.get(JobProducer).enqueue('transient.gated', {});
    await waitFor('the handler running', () => runs === 1);

    await setReadOnly(true);
    openGate();
    await waitFor('a completion refused as read-only', () =>
      logger.warnings.some((w) => w.includes('read-only transaction')),
    );
    await setReadOnly(false);

    // Before the lease (60 s) could expire: only a retried completion removes the row this soon.
    await waitFor('the job completed', async () => !(await jobRow(db.url, id)), 20_000, 50);
    expect(runs).toBe(1);
    expect(logger.warnings.filter((w) => w.includes('could not be written'))).toEqual([]);
  });
});
