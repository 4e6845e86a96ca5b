'use strict';
// `npm run soak`: the queue under steady load for an hour (SOAK_MINUTES), with a long idle transaction in the middle.
//
// Two sample app processes on a fresh database: a worker (SOAK_CONCURRENCY slots) and a producer (concurrency 0)
// that the script drives over HTTP. The worker's capacity is measured first (a backlog of transactional demo.record
// jobs drained at full speed), then jobs are enqueued at SOAK_LOAD (70 %) of it, in batches every 100 ms. Time is cut
// into 60 rows (one a minute for an hour; the same proportions for a shorter run): in the middle of the run another
// session holds a snapshot idle in a transaction for 5 rows (5 minutes of an hour), the classic bloat trigger. Each
// row reads the jobs table's and indexes' sizes and dead tuples, the claim statement's p50/p99 and the
// enqueue-to-start p50/p99 (the library's histograms, from the worker's /metrics) and the worker's RSS. At the end
// the load stops, the queue drains, and every acknowledged job is checked for exactly one effect.
// Writes docs/soak/soak-<minutes>min.md (the table and the verdicts) and .svg (the plot). Not part of CI.
const { execFileSync, spawn } = require('node:child_process');
const { randomBytes } = require('node:crypto');
const { existsSync, mkdirSync, readFileSync, writeFileSync } = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { Client } = require('pg');
const { readBuckets, percentileBetween } = require('./histogram');
const { soakSvg } = require('./plot');
const { verdicts } = require('./verdicts');

const ROOT = path.resolve(__dirname, '..', '..');
const BUNDLE = path.join(ROOT, 'dist/apps/sample/main.js');
const ROWS = 60;
const HOLD_ROWS = 5;
const CALIBRATION_JOBS = Number(process.env.SOAK_CALIBRATION_JOBS ?? 6000);

const settings = {
  minutes: Number(process.env.SOAK_MINUTES ?? 60),
  load: Number(process.env.SOAK_LOAD ?? 0.7),
  concurrency: Number(process.env.SOAK_CONCURRENCY ?? 10),
  capacity: process.env.SOAK_CAPACITY ? Number(process.env.SOAK_CAPACITY) : null,
  serverUrl: process.env.SOAK_DATABASE_URL ?? process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  out: path.resolve(ROOT, process.env.SOAK_OUT ?? 'docs/soak'),
};
for (const [name, value] of Object.entries({ SOAK_MINUTES: settings.minutes, SOAK_LOAD: settings.load })) {
  if (!(value > 0)) throw new Error(`${name} must be a positive number`);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (line) => process.stdout.write(`${line}\n`);

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function request(port, method, route, body, timeoutMs = 10_000) {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method,
        path: route,
        agent: false,
        timeout: timeoutMs,
        headers: payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {},
      },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${route}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(payload);
  });
}

/** One sample app process; its output goes to a log file beside the results (kept only on failure). */
async function startSample(id, databaseUrl, env) {
  const port = await freePort();
  const output = [];
  const child = spawn(process.execPath, [BUNDLE], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH,
      NODE_ENV: 'production',
      NO_COLOR: '1',
      DATABASE_URL: databaseUrl,
      PORT: String(port),
      INSTANCE_ID: id,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const keep = (chunk) => {
    output.push(chunk.toString('utf8'));
    if (output.length > 500) output.shift();
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${id} exited at start:\n${output.join('')}`);
    const res = await request(port, 'GET', '/queue/stats', undefined, 2_000).catch(() => null);
    if (res?.status === 200) break;
    if (Date.now() > deadline) throw new Error(`${id} not ready after 60 s:\n${output.join('')}`);
    await sleep(200);
  }
  return {
    id,
    port,
    pid: child.pid,
    output: () => output.join(''),
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await Promise.race([exited, sleep(15_000).then(() => child.kill('SIGKILL'))]);
    },
  };
}

function rssMiB(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : null;
}

async function one(client, text, values) {
  return (await client.query(text, values)).rows[0];
}

/** Drains a backlog inserted in one statement at full speed: jobs per second, from the effects' own timestamps. */
async function measureCapacity(db) {
  await db.query(
    `INSERT INTO job_queue.jobs (type, payload, status, max_attempts)
     SELECT 'demo.record', '{}'::jsonb, 'pending', 5 FROM generate_series(1, $1::int)`,
    [CALIBRATION_JOBS],
  );
  const deadline = Date.now() + 300_000;
  while ((await one(db, 'SELECT count(*)::int AS n FROM job_queue.jobs')).n > 0) {
    if (Date.now() > deadline) throw new Error('the calibration backlog did not drain within 5 minutes');
    await sleep(200);
  }
  const row = await one(
    db,
    `SELECT count(*)::int AS n, extract(epoch FROM max(created_at) - min(created_at))::float8 AS seconds
     FROM sample.effects`,
  );
  await db.query('TRUNCATE sample.effects');
  return row.n / Math.max(row.seconds, 0.001);
}

/** Enqueues `rate` jobs per second through the producer in batches every 100 ms, catching up when a batch lags. */
function startProducer(producer, rate) {
  let running = true;
  let sent = 0;
  let acked = 0;
  let failed = 0;
  let failedJobs = 0;
  const startedAt = Date.now();
  const loop = (async () => {
    while (running) {
      const tick = Date.now();
      const due = Math.floor(((tick - startedAt) / 1000) * rate) - sent;
      const size = Math.min(due, 2000);
      if (size > 0) {
        sent += size;
        const jobs = Array.from({ length: size }, () => ({ type: 'demo.record', payload: {} }));
        const res = await request(producer.port, 'POST', '/jobs/batch', { jobs }, 30_000).catch((e) => ({
          status: 0,
          text: e.message,
        }));
        if (res.status === 201) acked += JSON.parse(res.text).ids.length;
        else {
          failed += 1;
          failedJobs += size;
          log(`enqueue failed: ${res.status} ${res.text.slice(0, 200)}`);
        }
      }
      await sleep(Math.max(0, tick + 100 - Date.now()));
    }
  })();
  return {
    counts: () => ({ acked, failed, failedJobs }),
    async stop() {
      running = false;
      await loop;
    },
  };
}

/** Opens a REPEATABLE READ transaction on the soak database, takes its snapshot and leaves it idle. */
async function holdSnapshot(url) {
  const client = new Client({ connectionString: url, application_name: 'soak-idle-in-transaction' });
  await client.connect();
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
  await client.query('SELECT count(*) FROM job_queue.jobs');
  return async () => {
    await client.query('ROLLBACK');
    await client.end();
  };
}

async function tableStats(db) {
  return one(
    db,
    `SELECT pg_table_size('job_queue.jobs')::float8 AS "tableBytes",
            pg_indexes_size('job_queue.jobs')::float8 AS "indexBytes",
            coalesce((SELECT n_dead_tup FROM pg_stat_user_tables WHERE relid = 'job_queue.jobs'::regclass), 0)::float8
              AS "deadTuples",
            (SELECT count(*)::int FROM job_queue.jobs) AS backlog`,
  );
}

async function main() {
  if (!existsSync(BUNDLE)) {
    log('building the sample app (npm run build)');
    execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
  }
  const durationMs = settings.minutes * 60_000;
  const tickMs = durationMs / ROWS;
  const holdFromMs = durationMs / 2 - (HOLD_ROWS * tickMs) / 2;
  const holdToMs = holdFromMs + HOLD_ROWS * tickMs;

  const name = `soak_${randomBytes(4).toString('hex')}`;
  const admin = new Client({ connectionString: settings.serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const dbUrl = new URL(settings.serverUrl);
  dbUrl.pathname = `/${name}`;
  const db = new Client({ connectionString: dbUrl.toString(), application_name: 'soak-stats' });
  const apps = [];
  let failure;
  try {
    await db.connect();
    const server = await one(
      db,
      `SELECT current_setting('server_version') AS version, current_setting('autovacuum') AS autovacuum,
              current_setting('autovacuum_naptime') AS naptime, current_setting('shared_buffers') AS "sharedBuffers"`,
    );
    const worker = await startSample('soak-worker', dbUrl.toString(), {
      JOB_QUEUE_CONCURRENCY: String(settings.concurrency),
    });
    apps.push(worker);
    const producer = await startSample('soak-producer', dbUrl.toString(), { JOB_QUEUE_CONCURRENCY: '0' });
    apps.push(producer);

    const capacity = settings.capacity ?? (await measureCapacity(db));
    const rate = capacity * settings.load;
    log(
      `soak: ${settings.minutes} min, a row every ${(tickMs / 1000).toFixed(1)} s; capacity ${capacity.toFixed(0)} jobs/s` +
        `${settings.capacity ? ' (given)' : ' (measured)'}; enqueueing ${rate.toFixed(0)} jobs/s; idle transaction ` +
        `from ${(holdFromMs / 60_000).toFixed(1)} to ${(holdToMs / 60_000).toFixed(1)} min`,
    );

    const scrape = async () => (await request(worker.port, 'GET', '/metrics')).text;
    const completedOf = (text) =>
      text
        .split('\n')
        .filter((l) => l.startsWith('job_queue_jobs_completed_total'))
        .reduce((s, l) => s + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
    let metrics = await scrape();
    const startedAt = Date.now();
    const load = startProducer(producer, rate);
    let release = null;
    let holdError = null;
    const hold = (async () => {
      await sleep(holdFromMs);
      release = await holdSnapshot(dbUrl.toString());
      await sleep(holdToMs - holdFromMs);
      await release();
      release = null;
    })().catch((e) => (holdError = e));

    const rows = [];
    let ackedBefore = 0;
    for (let row = 1; row <= ROWS; row += 1) {
      await sleep(Math.max(0, startedAt + row * tickMs - Date.now()));
      const text = await scrape();
      const at = row * tickMs;
      const { acked } = load.counts();
      const stats = await tableStats(db);
      const ms = (name, q) => {
        const v = percentileBetween(readBuckets(metrics, name), readBuckets(text, name), q);
        return v === null ? null : v * 1000;
      };
      const r = {
        minute: at / 60_000,
        phase: at <= holdFromMs ? 'steady' : at <= holdToMs + 1 ? 'held' : 'after',
        enqueued: acked - ackedBefore,
        completed: completedOf(text) - completedOf(metrics),
        ...stats,
        claimP50Ms: ms('job_queue_claim_duration_seconds', 50),
        claimP99Ms: ms('job_queue_claim_duration_seconds', 99),
        waitP50Ms: ms('job_queue_job_wait_seconds', 50),
        waitP99Ms: ms('job_queue_job_wait_seconds', 99),
        rssMiB: rssMiB(worker.pid),
      };
      ackedBefore = acked;
      metrics = text;
      rows.push(r);
      log(JSON.stringify(r));
    }
    await load.stop();
    await hold;
    if (holdError) throw holdError;

    // Nothing lost: the queue drains, and every acknowledged job left exactly one effect.
    const drainDeadline = Date.now() + 300_000;
    while ((await tableStats(db)).backlog > 0 && Date.now() < drainDeadline) await sleep(500);
    const final = await one(
      db,
      `SELECT (SELECT count(*)::int FROM job_queue.jobs) AS live,
              (SELECT count(*)::int FROM job_queue.dead_jobs) AS dead,
              (SELECT count(*)::int FROM sample.effects) AS effects,
              (SELECT count(DISTINCT job_id)::int FROM sample.effects) AS "jobsWithEffect"`,
    );
    const counts = load.counts();
    const result = verdicts({
      rows,
      holdFromMinute: holdFromMs / 60_000,
      holdToMinute: holdToMs / 60_000,
      minutes: settings.minutes,
      acked: counts.acked,
      failedBatches: counts.failed,
      final,
    });
    const label = `${settings.minutes}min`;
    const title = `Soak: ${settings.minutes} min at ${Math.round(settings.load * 100)} % of ${capacity.toFixed(0)} jobs/s`;
    mkdirSync(settings.out, { recursive: true });
    const svgFile = path.join(settings.out, `soak-${label}.svg`);
    writeFileSync(
      svgFile,
      soakSvg({ rows, holdMinutes: [holdFromMs / 60_000, holdToMs / 60_000], title, xLabel: 'minutes' }),
    );
    const mdFile = path.join(settings.out, `soak-${label}.md`);
    writeFileSync(
      mdFile,
      markdown({
        settings,
        server,
        capacity,
        rate,
        tickMs,
        holdFromMs,
        holdToMs,
        rows,
        result,
        counts,
        final,
        svg: path.basename(svgFile),
      }),
    );
    log(`\n${result.lines.join('\n')}\nwrote ${path.relative(ROOT, mdFile)} and ${path.relative(ROOT, svgFile)}`);
    if (!result.passed) process.exitCode = 1;
  } catch (error) {
    failure = error;
    for (const app of apps) process.stderr.write(`----- ${app.id} -----\n${app.output()}\n`);
    throw error;
  } finally {
    await Promise.all(apps.map((a) => a.stop()));
    await db.end().catch(() => undefined);
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch((e) => {
      if (!failure) throw e;
    });
    await admin.end();
  }
}

const fmt = (v, digits = 1) => (v === null || v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(digits));
const mib = (bytes) => (bytes / 2 ** 20).toFixed(2);

function markdown({
  settings,
  server,
  capacity,
  rate,
  tickMs,
  holdFromMs,
  holdToMs,
  rows,
  result,
  counts,
  final,
  svg,
}) {
  const scale = settings.minutes / 60;
  return [
    `# Soak run: ${settings.minutes} minutes${settings.minutes < 60 ? ' (a shortened run; the full one is 60 minutes)' : ''}`,
    '',
    `Written by \`SOAK_MINUTES=${settings.minutes} npm run soak\` (\`bench/soak/run.js\`) on ${new Date().toISOString().slice(0, 10)}.`,
    `Time is scaled to the run: a row every ${(tickMs / 1000).toFixed(1)} s (one minute of an hour-long run), the idle`,
    `transaction held for ${((holdToMs - holdFromMs) / 1000).toFixed(0)} s (5 minutes of an hour), and "within 5 minutes" read as within`,
    `${(5 * scale).toFixed(2)} minutes (5 rows).`,
    '',
    `- Machine: ${os.cpus().length} cores, Node ${process.version}; PostgreSQL ${server.version}, autovacuum ${server.autovacuum}` +
      ` (naptime ${server.naptime}), shared_buffers ${server.sharedBuffers}; the library's own vacuum at its defaults.`,
    `- One worker (the sample app, concurrency ${settings.concurrency}) and one producer instance (concurrency 0) on a fresh database;`,
    `  transactional \`demo.record\` jobs (one effect row each), enqueued through \`POST /jobs/batch\` every 100 ms.`,
    `- Capacity ${capacity.toFixed(0)} jobs/s (${settings.capacity ? 'given' : `measured: ${CALIBRATION_JOBS} jobs drained at full speed`}); load ${Math.round(settings.load * 100)} %: ${rate.toFixed(0)} jobs/s offered.`,
    `- Idle in transaction (REPEATABLE READ snapshot) from minute ${fmt(holdFromMs / 60_000, 2)} to ${fmt(holdToMs / 60_000, 2)}.`,
    `- Claim and enqueue-to-start percentiles come from the library's histograms (\`job_queue_claim_duration_seconds\`,`,
    `  \`job_queue_job_wait_seconds\`), interpolated inside their buckets: their resolution is the bucket's width.`,
    '',
    '## Verdicts',
    '',
    '| target | measured | |',
    '| --- | --- | --- |',
    ...result.checks.map((c) => `| ${c.target} | ${c.measured} | ${c.ok ? 'met' : '**missed**'} |`),
    '',
    ...result.notes.flatMap((n) => [n, '']),
    `Acknowledged ${counts.acked} jobs (${counts.failed} batches refused); after the drain: ${final.live} live, ${final.dead} dead,`,
    `${final.effects} effects for ${final.jobsWithEffect} jobs.`,
    '',
    `![timeline](${svg})`,
    '',
    '## Timeline',
    '',
    '| min | phase | enqueued | completed | backlog | table MiB | indexes MiB | dead tuples | claim p50 ms | claim p99 ms | wait p50 ms | wait p99 ms | RSS MiB |',
    '| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map(
      (r) =>
        `| ${fmt(r.minute, 2)} | ${r.phase} | ${r.enqueued} | ${r.completed} | ${r.backlog} | ${mib(r.tableBytes)} | ${mib(r.indexBytes)} | ${r.deadTuples} | ${fmt(r.claimP50Ms, 2)} | ${fmt(r.claimP99Ms, 2)} | ${fmt(r.waitP50Ms)} | ${fmt(r.waitP99Ms)} | ${fmt(r.rssMiB)} |`,
    ),
    '',
  ].join('\n');
}

main().catch((error) => {
  process.stderr.write(`${error.stack ?? error}\n`);
  process.exit(1);
});
