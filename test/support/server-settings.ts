import { query } from './sql';

/** The settings that decide how a server treats dead rows and statistics: a test of a bad day states them. */
const SETTINGS = [
  'server_version',
  'autovacuum',
  'autovacuum_naptime',
  'autovacuum_vacuum_threshold',
  'autovacuum_vacuum_scale_factor',
  'shared_buffers',
];

export async function serverSettings(url: string): Promise<Record<string, string>> {
  const rows = await query<{ name: string; setting: string; unit: string | null }>(
    url,
    'SELECT name, setting, unit FROM pg_settings WHERE name = ANY($1) ORDER BY name',
    [SETTINGS],
  );
  return Object.fromEntries(rows.map((r) => [r.name, r.unit ? `${r.setting} ${r.unit}` : r.setting]));
}

/** Prints the settings on one line, so that the test's output says which server it ran on. */
export async function stateServerSettings(url: string, test: string): Promise<Record<string, string>> {
  const settings = await serverSettings(url);
  process.stdout.write(
    `${test}: server settings ${Object.entries(settings)
      .map(([k, v]) => `${k}=${v}`)
      .join(', ')}\n`,
  );
  return settings;
}

/** `pg_stat_user_tables.n_dead_tup` of one of the queue's tables. */
export async function deadTuples(url: string, table = 'jobs', schema = 'job_queue'): Promise<number> {
  const [row] = await query<{ n: number }>(
    url,
    'SELECT n_dead_tup::int AS n FROM pg_stat_user_tables WHERE schemaname = $1 AND relname = $2',
    [schema, table],
  );
  return row?.n ?? 0;
}
