import { Client } from 'pg';
import { createTestDatabase, serverUrl } from './support/test-database';
import { waitFor } from './support/wait-for';

async function databaseExists(name: string): Promise<boolean> {
  const admin = new Client({ connectionString: serverUrl() });
  await admin.connect();
  try {
    const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    return rowCount === 1;
  } finally {
    await admin.end();
  }
}

/** A connection to `url` that records the errors it is told of, as a pool's idle client would raise them. */
async function watchedClient(url: string): Promise<{ client: Client; errors: Error[] }> {
  const client = new Client({ connectionString: url });
  await client.connect();
  const errors: Error[] = [];
  client.on('error', (error) => errors.push(error));
  return { client, errors };
}

/**
 * The test databases' drop. pg-pool's `end()` resolves before its clients' connections have closed; a drop that
 * terminated every connection at once (`WITH (FORCE)`) hit those mid-close, and their pool, which no longer has a
 * user to listen, raised an unhandled error that failed the test file (CI, `on-time.test.ts`).
 */
describe('test database drop', () => {
  it('lets a connection that is closing by itself finish instead of terminating it', async () => {
    const db = await createTestDatabase({ migrate: false });
    const { client, errors } = await watchedClient(db.url);
    // The connection's last statement is still running when the drop starts; it ends the connection after it.
    const closing = client.query('SELECT pg_sleep(1)').then(() => client.end());

    await db.drop();

    await expect(closing).resolves.toBeUndefined();
    expect(errors).toEqual([]);
    expect(await databaseExists(db.name)).toBe(false);
  });

  it('terminates a connection still open after the grace, and drops the database', async () => {
    const db = await createTestDatabase({ migrate: false });
    const { errors } = await watchedClient(db.url); // never ended: a leak

    await db.drop({ graceMs: 200 });

    expect(await databaseExists(db.name)).toBe(false);
    await waitFor('the leaked connection to learn it was terminated', () => errors.length > 0, 5_000);
    expect(errors[0].message).toMatch(/terminating connection/);
  });
});
