'use strict';
// Start lateness of delayed jobs and of a schedule's slots with a 5 s poll interval: how long after its due time a
// job's handler transaction began (sample.effects.created_at, the database clock) minus the job's run-at, or minus
// its slot. One sample app process (the built dist/apps/sample/main.js, `npm run build` first) on a fresh database
// of the server at BENCH_DATABASE_URL. Delayed jobs are POSTed with delays spread over 0.2–3 s, a few at a time;
// meanwhile an every-second schedule of demo.record fires. Prints p50/p99/max of both.
//   npm run build && node bench/delayed-lateness.js      (DELAYED_SAMPLES=<n>, DELAYED_APP=<main.js>)
const path = require('node:path');
const { spawn } = require('node:child_process');
const { Client } = require('pg');

const SERVER = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const SAMPLES = Number(process.env.DELAYED_SAMPLES ?? 200);
const PORT = 19_000 + Math.floor(Math.random() * 1000);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function urlFor(db) {
  const u = new URL(SERVER);
  u.pathname = `/${db}`;
  return u.toString();
}

async function sql(url, text, values) {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(text, values)).rows;
  } finally {
    await c.end();
  }
}

async function request(method, route, body) {
  const res = await fetch(`http://127.0.0.1:${PORT}${route}`, {
    method,
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status >= 300) throw new Error(`${method} ${route}: ${res.status} ${await res.text()}`);
  return res.status === 204 ? null : res.json();
}

function stats(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
  return {
    n: sorted.length,
    p50: at(0.5).toFixed(1),
    p99: at(0.99).toFixed(1),
    max: sorted[sorted.length - 1].toFixed(1),
  };
}

async function main() {
  const db = `bench_delayed_${Date.now().toString(36)}`;
  await sql(SERVER, `CREATE DATABASE "${db}"`);
  const url = urlFor(db);
  const app = spawn(
    process.execPath,
    [process.env.DELAYED_APP ?? path.join(__dirname, '..', 'dist/apps/sample/main.js')],
    {
      env: { ...process.env, DATABASE_URL: url, PORT: String(PORT), JOB_QUEUE_POLL_INTERVAL_MS: '5000' },
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  try {
    for (let ready = false; !ready;) {
      await sleep(200);
      ready = await request('GET', '/queue/stats').then(
        () => true,
        () => false,
      );
    }
    await request('POST', '/schedules', { name: 'bench-every-second', cron: '* * * * * *', type: 'demo.record' });
    const due = new Map();
    for (let sent = 0; sent < SAMPLES; sent += 5) {
      const ids = await Promise.all(
        Array.from({ length: 5 }, () =>
          request('POST', '/jobs', { type: 'demo.record', delayMs: 200 + Math.floor(Math.random() * 2_800) }),
        ),
      );
      const rows = await sql(url, 'SELECT id, next_retry_at FROM job_queue.jobs WHERE id = ANY($1)', [
        ids.map((r) => r.id),
      ]);
      for (const r of rows) due.set(r.id, r.next_retry_at);
      await sleep(50 + Math.random() * 200);
    }
    for (;;) {
      const [{ n }] = await sql(url, 'SELECT count(*)::int AS n FROM sample.effects WHERE job_id = ANY($1)', [
        [...due.keys()],
      ]);
      if (n >= due.size) break;
      await sleep(200);
    }
    await request('DELETE', '/schedules/bench-every-second');
    const delayed = await sql(
      url,
      `SELECT (extract(epoch FROM e.created_at - d.due) * 1000)::float8 AS ms
       FROM sample.effects e JOIN unnest($1::uuid[], $2::timestamptz[]) AS d(id, due) ON d.id = e.job_id`,
      [[...due.keys()], [...due.values()]],
    );
    const slots = await sql(
      url,
      `SELECT (extract(epoch FROM created_at - scheduled_for) * 1000)::float8 AS ms
       FROM sample.effects WHERE scheduled_for IS NOT NULL`,
    );
    console.log('start lateness (handler transaction start − due time, database clock), poll interval 5 s');
    console.log('delayed jobs  ', stats(delayed.map((r) => r.ms)));
    console.log('schedule slots', stats(slots.map((r) => r.ms)));
  } finally {
    app.kill('SIGTERM');
    await new Promise((resolve) => app.once('exit', resolve));
    await sql(SERVER, `DROP DATABASE IF EXISTS "${db}" WITH (FORCE)`);
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
