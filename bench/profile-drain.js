'use strict';
// ============================================================================================================
// Where the worker's CPU goes in a drain: `node bench/profile-drain.js` (see bench/README.md).
// ============================================================================================================
// The parent creates a fresh database and starts a child `node --cpu-prof` that inserts PROFILE_JOBS no-op jobs
// through our producer, runs VACUUM ANALYZE (as the drain scenario does), then starts our worker and waits until
// every job ran and none is left. The child marks the drain's start and end on the monotonic clock the profile's
// timestamps use, so only the samples taken during the drain are counted (not the module loading, the inserts or
// the shutdown). The parent prints the drain's jobs/s and CPU µs per job, the self time per group of files
// (library, pg, Nest, prom-client, node internals, GC, ...) and the top functions by self time.
//
// Loads the library like the bench's `ours` adapter (systems/ours.js): profile the compiled JS, so that ts-node
// is not in the profile. With no BENCH_OURS_ENTRY, dist/package-build/dist/index.js is used, built first with
// `npx tsc -p libs/job-queue/tsconfig.lib.json` when it is missing.
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const REPO = path.resolve(__dirname, '..');
const DEFAULT_ENTRY = path.join(REPO, 'dist', 'package-build', 'dist', 'index.js');

const JOBS = Number(process.env.PROFILE_JOBS || 20_000);
const CONCURRENCY = Number(process.env.PROFILE_CONCURRENCY || 32);
const PREFETCH = Number(process.env.PROFILE_PREFETCH || 0);
const TOP = Number(process.env.PROFILE_TOP || 30);
/** The sampling interval: Node's default (1 ms) gives only a few thousand samples in a drain of 20,000 jobs. */
// Each sample interrupts the main thread: at 100 µs the profiled process used twice the CPU per job.
const INTERVAL_US = Number(process.env.PROFILE_INTERVAL_US || 250);
const MARK = 'PROFILE_DRAIN ';

if (process.argv[2] === '--child') {
  child(JSON.parse(process.argv[3])).then(
    () => process.exit(0),
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
} else {
  parent().catch((error) => {
    console.error(error);
    process.exit(1);
  });
}

async function parent() {
  const { createDatabase, dropDatabase } = require('./db');
  if (!process.env.BENCH_OURS_ENTRY) {
    if (!fs.existsSync(DEFAULT_ENTRY) || process.env.PROFILE_BUILD === '1') {
      console.error('building the library: npx tsc -p libs/job-queue/tsconfig.lib.json');
      execFileSync(
        process.execPath,
        [require.resolve('typescript/bin/tsc', { paths: [REPO] }), '-p', 'libs/job-queue/tsconfig.lib.json'],
        { cwd: REPO, stdio: 'inherit' },
      );
    }
    process.env.BENCH_OURS_ENTRY = DEFAULT_ENTRY;
  }
  const dir = process.env.PROFILE_DIR || fs.mkdtempSync(path.join(os.tmpdir(), 'profile-drain-'));
  fs.mkdirSync(dir, { recursive: true });
  const db = await createDatabase('profile');
  let marks;
  try {
    marks = await runChild(dir, db.url);
  } finally {
    await dropDatabase(db.name).catch(() => undefined);
  }
  const file = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => path.join(dir, f))
    .sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs)[0];
  if (!file) throw new Error(`no .cpuprofile written in ${dir}`);
  report(JSON.parse(fs.readFileSync(file, 'utf8')), marks, file);
}

function runChild(dir, dbUrl) {
  const args = [
    '--cpu-prof',
    `--cpu-prof-dir=${dir}`,
    `--cpu-prof-interval=${INTERVAL_US}`,
    __filename,
    '--child',
    JSON.stringify({ dbUrl }),
  ];
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'], env: process.env });
    let out = '';
    proc.stdout.on('data', (chunk) => (out += chunk));
    proc.on('error', reject);
    proc.on('exit', (code) => {
      const line = out.split('\n').find((l) => l.startsWith(MARK));
      if (code !== 0 || !line) return reject(new Error(`the profiled worker exited with ${code}: ${out}`));
      resolve(JSON.parse(line.slice(MARK.length)));
    });
  });
}

/** The profiled process: the bench's own adapter, so that the worker is set up exactly as in `npm run bench`. */
async function child({ dbUrl }) {
  const { execOn } = require('./db');
  const { makeCounter } = require('./scenarios/util');
  // setTimeout captured before countCalls wraps it: this wait polls every 2 ms, and those timers are not the worker's.
  const realSetTimeout = setTimeout;
  const poll = (ms) => new Promise((resolve) => realSetTimeout(resolve, ms));
  const waitUntilDrained = async (counter) => {
    while (counter.count < JOBS) await poll(2);
    while ((await adapter.countUnfinished()) > 0) await poll(5);
  };
  const variants = require('./systems/ours');
  const variant = variants.find((v) => v.name === (PREFETCH > 0 ? 'ours-prefetch' : 'ours'));
  const adapter = variant.create();
  if (PREFETCH > 0) adapter.workerOptions = { ...adapter.workerOptions, prefetch: PREFETCH };
  try {
    await adapter.setup(dbUrl);
    await adapter.insertMany(JOBS);
    await execOn(dbUrl, 'VACUUM ANALYZE');
    const counts = countCalls();
    const counter = makeCounter();
    const cpu0 = process.cpuUsage();
    const startNs = process.hrtime.bigint();
    await adapter.startWorker({ concurrency: CONCURRENCY, onJob: counter.onJob });
    await waitUntilDrained(counter);
    const endNs = process.hrtime.bigint();
    const cpu = process.cpuUsage(cpu0);
    counts.stop();
    await adapter.stop();
    const marks = {
      // µs on the monotonic clock, as the profile's startTime/timeDeltas
      startUs: Number(startNs / 1000n),
      endUs: Number(endNs / 1000n),
      jobs: JOBS,
      concurrency: CONCURRENCY,
      prefetch: PREFETCH,
      cpuUs: cpu.user + cpu.system,
      cpuSystemUs: cpu.system,
      counts: counts.result,
    };
    process.stdout.write(`${MARK}${JSON.stringify(marks)}\n`);
  } finally {
    await adapter.teardown();
  }
}

/**
 * Counts, during the drain, the library's statements (by their first words), timers and immediates, and with
 * PROFILE_COUNT_PROMISES=1 the promises made (an async hook: it slows the drain, so its timings mean less then).
 */
function countCalls() {
  const result = { statements: {}, setTimeout: 0, setImmediate: 0, promises: null };
  let on = true;
  // The library's pg, not the bench's own copy (bench/node_modules/pg, used by the harness's count query).
  const { Client } = require(require.resolve('pg', { paths: [REPO] }));
  const query = Client.prototype.query;
  Client.prototype.query = function (config, ...rest) {
    if (on) {
      const text = typeof config === 'string' ? config : config && config.text;
      const key = typeof text === 'string' ? statementKey(text) : '(other)';
      result.statements[key] = (result.statements[key] ?? 0) + 1;
    }
    return query.call(this, config, ...rest);
  };
  const { setTimeout: st, setImmediate: si } = global;
  global.setTimeout = function (...args) {
    if (on) result.setTimeout += 1;
    return st.apply(this, args);
  };
  global.setImmediate = function (...args) {
    if (on) result.setImmediate += 1;
    return si.apply(this, args);
  };
  let hook = null;
  if (process.env.PROFILE_COUNT_PROMISES === '1') {
    result.promises = 0;
    hook = require('node:async_hooks')
      .createHook({
        init(id, type) {
          if (on && type === 'PROMISE') result.promises += 1;
        },
      })
      .enable();
  }
  return {
    result,
    stop() {
      on = false;
      hook?.disable();
    },
  };
}

const statementKeys = new Map();

/** A statement's first words, to tell the claims from the completions and the rest (memoised: the texts repeat). */
function statementKey(text) {
  let key = statementKeys.get(text);
  if (key === undefined) statementKeys.set(text, (key = firstWords(text)));
  return key;
}

function firstWords(text) {
  const words = text
    .replace(/--[^\n]*/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  return words.slice(0, 60);
}

/** Which part of the process a profile node's code belongs to. */
function groupOf(url, name) {
  if (!url) {
    if (name === '(garbage collector)') return 'GC';
    if (name === '(idle)') return 'idle';
    if (name === '(program)') return 'program (native, unattributed)';
    return 'native/builtin';
  }
  if (url.includes('/node_modules/')) {
    const m = url.match(/\/node_modules\/((?:@[^/]+\/)?[^/]+)/);
    const pkg = m ? m[1] : 'node_modules';
    if (/^pg(-|$)|^postgres-/.test(pkg)) return 'pg (driver)';
    if (pkg.startsWith('@nestjs/')) return 'Nest';
    return pkg;
  }
  // The compiled library (dist/package-build/dist, or another dist/<name>/dist given as BENCH_OURS_ENTRY).
  if (/\/dist\/[^/]+\/dist\//.test(url) || url.includes('/libs/job-queue/')) return 'library';
  if (url.includes('/bench/')) return 'bench harness';
  if (url.startsWith('node:')) return 'node internals';
  return 'other';
}

function shortUrl(url) {
  if (!url) return '';
  return url
    .replace(/^file:\/\//, '')
    .replace(`${REPO}/`, '')
    .replace(/^.*\/node_modules\//, '')
    .replace(/^dist\/[^/]+\/dist\//, 'lib/');
}

function report(profile, marks, file) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map();
  let t = profile.startTime;
  let total = 0;
  for (let i = 0; i < profile.samples.length; i += 1) {
    t += profile.timeDeltas[i];
    if (t < marks.startUs || t > marks.endUs) continue;
    const node = byId.get(profile.samples[i]);
    if (node.callFrame.functionName === '(idle)') continue;
    // Every sample counts once, whatever the gap before the next: on a loaded machine a gap can be many intervals
    // (the process waited for a core), and weighting by it would charge that wait to one function.
    selfUs.set(node.id, (selfUs.get(node.id) ?? 0) + INTERVAL_US);
    total += INTERVAL_US;
  }
  const groups = new Map();
  const functions = new Map();
  for (const [id, us] of selfUs) {
    const { functionName, url, lineNumber } = byId.get(id).callFrame;
    const group = groupOf(url, functionName);
    groups.set(group, (groups.get(group) ?? 0) + us);
    const key = `${functionName || '(anonymous)'}  ${shortUrl(url)}${url ? `:${lineNumber + 1}` : ''}`;
    const f = functions.get(key) ?? { us: 0, group };
    f.us += us;
    functions.set(key, f);
  }
  const wallMs = (marks.endUs - marks.startUs) / 1000;
  // µs/job: the main thread's samples (interval × count) per job. The process's CPU per job is larger: it also
  // counts the kernel's side of the sockets, GC and libuv helper threads, and the profiler's own interrupts.
  const per = (us) => (us / marks.jobs).toFixed(2).padStart(7);
  const pct = (us) => `${((100 * us) / total).toFixed(1).padStart(5)}%`;
  console.log(
    `drain of ${marks.jobs} jobs, concurrency ${marks.concurrency}, prefetch ${marks.prefetch}: ` +
      `${Math.round(marks.jobs / (wallMs / 1000))} jobs/s, ` +
      `process CPU ${(marks.cpuUs / marks.jobs).toFixed(1)} µs/job (kernel ${(marks.cpuSystemUs / marks.jobs).toFixed(1)}), main thread busy ${(total / marks.jobs).toFixed(1)} µs/job (${total / INTERVAL_US} samples every ${INTERVAL_US} µs)`,
  );
  console.log(`profile: ${file}`);
  const { statements, setTimeout: timeouts, setImmediate: immediates, promises } = marks.counts;
  const perJob = (n) => (n / marks.jobs).toFixed(3);
  const statementTotal = Object.values(statements).reduce((a, b) => a + b, 0);
  console.log(
    `per job: ${perJob(statementTotal)} statements, ${perJob(timeouts)} setTimeout, ${perJob(immediates)} setImmediate` +
      (promises === null ? '' : `, ${perJob(promises)} promises`),
  );
  for (const [text, n] of Object.entries(statements)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 8)) {
    console.log(`  ${String(n).padStart(7)} (${perJob(n)}/job)  ${text}`);
  }
  console.log('');
  console.log('self time by group               µs/job   share');
  for (const [group, us] of [...groups].sort((a, b) => b[1] - a[1])) {
    console.log(`  ${group.padEnd(30)} ${per(us)}  ${pct(us)}`);
  }
  console.log(`\ntop ${TOP} functions by self time   µs/job   share  group`);
  for (const [key, { us, group }] of [...functions].sort((a, b) => b[1].us - a[1].us).slice(0, TOP)) {
    console.log(`  ${per(us)}  ${pct(us)}  ${group.padEnd(16)} ${key}`);
  }
}
