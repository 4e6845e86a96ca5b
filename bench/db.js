'use strict';
// One fresh database per run: `bench_<system>_<random>` on BENCH_DATABASE_URL's server (default the local one),
// dropped afterwards with FORCE so that a leftover connection of a killed run cannot keep it alive.
const crypto = require('node:crypto');
const { Client } = require('pg');

const DEFAULT_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

function serverUrl() {
  return process.env.BENCH_DATABASE_URL || DEFAULT_URL;
}

function urlFor(database) {
  const url = new URL(serverUrl());
  url.pathname = `/${database}`;
  return url.toString();
}

/** The maintenance database on the same server, used to create and drop the run databases. */
function adminUrl() {
  return urlFor('postgres');
}

async function withAdmin(fn) {
  const client = new Client({ connectionString: adminUrl() });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function createDatabase(system) {
  if (!/^[a-z0-9]+$/.test(system)) throw new Error(`bad system name for a database: ${system}`);
  const name = `bench_${system}_${crypto.randomBytes(4).toString('hex')}`;
  await withAdmin((c) => c.query(`CREATE DATABASE "${name}"`));
  return { name, url: urlFor(name) };
}

async function dropDatabase(name) {
  if (!/^bench_[a-z0-9]+_[0-9a-f]{8}$/.test(name)) throw new Error(`refusing to drop ${name}`);
  await withAdmin((c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
}

async function serverVersion() {
  return withAdmin(async (c) => (await c.query('SHOW server_version')).rows[0].server_version);
}

/** Run one statement on a run database (VACUUM ANALYZE between the backlog fills). */
async function execOn(url, sql) {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end().catch(() => undefined);
  }
}

module.exports = { createDatabase, dropDatabase, serverVersion, execOn, serverUrl, withAdmin };
