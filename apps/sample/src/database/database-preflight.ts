import { Client } from 'pg';

/**
 * Checks that PostgreSQL answers before Nest starts, so that a wrong or unreachable DATABASE_URL ends the app
 * with one clear line instead of retries and stack traces. Returns the problem, or null when the database answers.
 */
export async function databaseProblem(url: string): Promise<string | null> {
  let where: string;
  try {
    const parsed = new URL(url);
    where = `${parsed.hostname}:${parsed.port || 5432}, database "${decodeURIComponent(parsed.pathname.slice(1)) || 'postgres'}"`;
  } catch {
    return 'DATABASE_URL is not a valid URL (expected postgres://user:password@host:port/database)';
  }
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return null;
  } catch (error) {
    const e = error as { message?: string; code?: string; errors?: Array<{ message: string }> };
    const reason = e.message || e.errors?.map((x) => x.message).join('; ') || e.code || String(error);
    return `Cannot reach PostgreSQL at ${where}: ${reason}. Set DATABASE_URL to a server that answers, or unset it to use an embedded PostgreSQL.`;
  } finally {
    await client.end().catch(() => undefined);
  }
}
