import { spawn } from 'node:child_process';
import { freePort } from '../support/test-database-resolver';
import { SAMPLE_BUNDLE, ensureSampleBuilt } from './support/sample-build';
import { SampleProcess } from './support/sample-process';

describe('e2e: start-up guard rails of the sample app', () => {
  beforeAll(() => ensureSampleBuilt());

  async function startWith(databaseUrl: string): Promise<SampleProcess> {
    const port = await freePort();
    const env = { PATH: process.env.PATH, NO_COLOR: '1', PORT: String(port), DATABASE_URL: databaseUrl };
    return new SampleProcess(
      'guard',
      port,
      spawn(process.execPath, [SAMPLE_BUNDLE], { env, stdio: ['ignore', 'pipe', 'pipe'] }),
    );
  }

  it.each([
    [
      'an unreachable server',
      `postgres://postgres@127.0.0.1:${1}/postgres`,
      /Cannot reach PostgreSQL at 127\.0\.0\.1:1, database "postgres": connect ECONNREFUSED/,
    ],
    [
      'a database that does not exist',
      'postgres://postgres@127.0.0.1:5432/no_such_database_here',
      /database "no_such_database_here" does not exist/,
    ],
    ['a URL that is not one', 'not a url', /DATABASE_URL is not a valid URL/],
  ])('ends with one clear line and no stack trace for %s', async (_what, url, message) => {
    const proc = await startWith(url);
    expect(await proc.exited).toEqual({ code: 1, signal: null });
    expect(proc.grep(message)).toHaveLength(1);
    expect(proc.grep(/^\[guard \w+\]\s+at /)).toEqual([]);
  });
});
