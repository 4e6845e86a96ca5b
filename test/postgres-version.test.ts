import { query } from './support/sql';
import { SUPPORTED_POSTGRES_MAJORS } from './support/test-database-resolver';

/** The server every other test ran on: the major a compatibility run asked for, and never one we do not support. */
describe('the test server', () => {
  it('is the PostgreSQL major the run asked for, and one the library supports', async () => {
    const [{ server_version_num }] = await query<{ server_version_num: string }>(
      process.env.JOB_QUEUE_TEST_SERVER_URL!,
      'SHOW server_version_num',
    );
    const major = Math.floor(Number(server_version_num) / 10_000);
    if (process.env.JOB_QUEUE_TEST_POSTGRES) expect(String(major)).toBe(process.env.JOB_QUEUE_TEST_POSTGRES);
    expect(major).toBeGreaterThanOrEqual(Number(SUPPORTED_POSTGRES_MAJORS[0]));
  });
});
