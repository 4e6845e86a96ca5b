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
    startEmbedded: async () => {
      started.push('embedded');
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
});
