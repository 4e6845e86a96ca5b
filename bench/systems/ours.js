'use strict';
// ============================================================================================================
// Our library, from libs/job-queue/src. If it does not export JobQueueModule, JobHandler and JobProducer,
// `setup()` throws NotReady and the harness prints "skip ours: not ready (…)".
// ============================================================================================================
// Loaded from its TypeScript source with ts-node (transpile only; decorator metadata is emitted), or from
// BENCH_OURS_ENTRY (e.g. a compiled dist/…/index.js). Two Nest application contexts per run:
// - a producer context (`concurrency: 0`, no @JobHandler provider): it runs the migrations and enqueues;
// - a worker context, created by startWorker(), whose only provider is the no-op handler.
const path = require('node:path');
const { Pool } = require('pg');
const { NotReady, JOB_TYPE } = require('./adapter');

const REPO = path.resolve(__dirname, '..', '..');
const SCHEMA = 'job_queue';
const POLL_INTERVAL_MS = 1000; // only the fallback: workers are woken by NOTIFY
const ENQUEUE_MANY_CHUNK = 1000;

let lib = null;
function loadLibrary() {
  if (lib) return lib;
  const entry = process.env.BENCH_OURS_ENTRY
    ? path.resolve(process.env.BENCH_OURS_ENTRY)
    : path.join(REPO, 'libs', 'job-queue', 'src');
  if (!process.env.BENCH_OURS_ENTRY) {
    require('ts-node').register({ transpileOnly: true, project: path.join(REPO, 'tsconfig.json') });
  }
  require('reflect-metadata');
  const loaded = require(entry);
  const missing = ['JobQueueModule', 'JobHandler', 'JobProducer'].filter((k) => !loaded[k]);
  if (missing.length) throw new NotReady(`${path.relative(REPO, entry)} does not export ${missing.join(', ')} yet`);
  // The repository is internal (not in index.ts): the backlog probe times its real claim statement.
  const { JobRepository } = require(path.join(path.dirname(require.resolve(entry)), 'job.repository'));
  lib = { ...loaded, JobRepository };
  return lib;
}

/** The module options; `overrides` differ between the producer and the worker context and between variants. */
function moduleOptions(dbUrl, overrides) {
  // Completions, NOTIFYs and inserts are batched without knobs; the one throughput setting is `prefetch`.
  return { connectionUrl: dbUrl, schema: SCHEMA, pollIntervalMs: POLL_INTERVAL_MS, runMigrations: true, ...overrides };
}

/** graphile-fast's local queue size: the prefetch variant holds as many jobs ahead as graphile-worker does. */
const PREFETCH = 500;

/** A Nest module class built in plain JS: decorators applied as functions. */
function makeModule(name, metadata) {
  const { Module } = require('@nestjs/common');
  const cls = { [name]: class {} }[name];
  Module(metadata)(cls);
  return cls;
}

function makeHandlerProvider(onJobRef) {
  const { Injectable } = require('@nestjs/common');
  class BenchNoopHandlers {
    async handle(payload) {
      onJobRef.current(payload);
    }
  }
  Injectable()(BenchNoopHandlers);
  const proto = BenchNoopHandlers.prototype;
  const descriptor = Reflect.decorate(
    [lib.JobHandler(JOB_TYPE)],
    proto,
    'handle',
    Object.getOwnPropertyDescriptor(proto, 'handle'),
  );
  if (descriptor) Object.defineProperty(proto, 'handle', descriptor);
  return BenchNoopHandlers;
}

class OursAdapter {
  /** `workerOptions`: the variant's module options for the worker context. */
  constructor(name, workerOptions, { backlog }) {
    this.name = name;
    this.system = 'ours';
    this.schema = SCHEMA;
    this.workerOptions = workerOptions;
    this.producerApp = null;
    this.workerApp = null;
    this.producer = null;
    this.pool = null;
    this.onJobRef = { current: () => undefined };
    // The backlog probe times the claim statement, the same in every variant: measured once, in `ours`.
    if (backlog)
      this.backlog = {
        // The columns of create-job-queue-tables.migration.ts, in one statement: a million rows through the producer
        // would time the producer, not the claim.
        fill: async (n) => {
          await this.pool.query(
            `INSERT INTO "${SCHEMA}".jobs (type, payload, status, max_attempts)
           SELECT $1, '{}'::jsonb, 'pending', 5 FROM generate_series(1, $2::int)`,
            [JOB_TYPE, n],
          );
        },
        // Another service's backlog: due an hour before anything `fill` adds, so an index that ignores the type
        // would put all of it ahead of the claimed type's jobs.
        fillOther: async (n) => {
          await this.pool.query(
            `INSERT INTO "${SCHEMA}".jobs (type, payload, status, max_attempts, next_retry_at, created_at)
           SELECT 'bench.other', '{}'::jsonb, 'pending', 5, now() - interval '1 hour', now() - interval '1 hour'
           FROM generate_series(1, $1::int)`,
            [n],
          );
        },
        clear: async () => {
          await this.pool.query(`TRUNCATE "${SCHEMA}".jobs`);
        },
        // The library's own claim statement (JobRepository.claimAvailable), as the poller calls it.
        claimOnce: async (limit) => {
          const jobs = await this.repository.claimAvailable(['default'], [JOB_TYPE], limit, 'bench-backlog');
          return jobs.length;
        },
      };
  }

  async setup(dbUrl) {
    const { JobQueueModule, JobProducer } = loadLibrary();
    const { NestFactory } = require('@nestjs/core');
    this.dbUrl = dbUrl;
    this.handlerClass = makeHandlerProvider(this.onJobRef); // built now: not timed in the drain
    const ProducerModule = makeModule('BenchProducerModule', {
      imports: [JobQueueModule.forRoot(moduleOptions(dbUrl, { concurrency: 0 }))],
    });
    this.producerApp = await NestFactory.createApplicationContext(ProducerModule, { logger: false });
    this.producer = this.producerApp.get(JobProducer);
    this.repository = this.producerApp.get(lib.JobRepository);
    this.pool = new Pool({ connectionString: dbUrl, max: 1 });
  }

  async insertMany(n) {
    for (let done = 0; done < n; done += ENQUEUE_MANY_CHUNK) {
      const size = Math.min(ENQUEUE_MANY_CHUNK, n - done);
      await this.producer.enqueueMany(Array.from({ length: size }, () => ({ type: JOB_TYPE, payload: {} })));
    }
  }

  async enqueue(payload = {}) {
    await this.producer.enqueue(JOB_TYPE, payload);
  }

  async startWorker({ concurrency, onJob }) {
    const { JobQueueModule } = lib;
    const { NestFactory } = require('@nestjs/core');
    this.onJobRef.current = onJob;
    const WorkerModule = makeModule('BenchWorkerModule', {
      imports: [JobQueueModule.forRoot(moduleOptions(this.dbUrl, { ...this.workerOptions, concurrency }))],
      providers: [this.handlerClass],
    });
    // createApplicationContext runs init(): onModuleInit discovers the handler, onApplicationBootstrap starts it.
    this.workerApp = await NestFactory.createApplicationContext(WorkerModule, { logger: false });
  }

  async countUnfinished() {
    // Completed jobs are deleted, dead ones move to dead_jobs: every row left in `jobs` is unfinished.
    const { rows } = await this.pool.query(`SELECT count(*)::int AS n FROM "${SCHEMA}".jobs`);
    return rows[0].n;
  }

  async stop() {
    const app = this.workerApp;
    this.workerApp = null;
    if (app) await app.close();
  }

  async teardown() {
    await this.stop().catch(() => undefined);
    const app = this.producerApp;
    this.producerApp = null;
    if (app) await app.close().catch(() => undefined);
    if (this.pool) await this.pool.end().catch(() => undefined);
    this.pool = null;
  }
}

const COMMON = `schema ${SCHEMA}, pollIntervalMs ${POLL_INTERVAL_MS} (NOTIFY wakes workers); enqueueMany in chunks of ${ENQUEUE_MANY_CHUNK}; producer in its own context (concurrency 0)`;

module.exports = [
  {
    name: 'ours',
    system: 'ours',
    settings: `library defaults (prefetch 0: claims only free slots); ${COMMON}`,
    create: () => new OursAdapter('ours', {}, { backlog: true }),
  },
  {
    name: 'ours-prefetch',
    system: 'ours',
    settings: `prefetch ${PREFETCH} (graphile-fast's local queue size), library defaults otherwise; ${COMMON}`,
    create: () => new OursAdapter('ours-prefetch', { prefetch: PREFETCH }, { backlog: false }),
  },
  {
    name: 'ours-retention',
    system: 'ours',
    settings: `retention on (completed jobs kept 1 h in finished_jobs, moved there by the completion itself), library defaults otherwise; ${COMMON}`,
    create: () => new OursAdapter('ours-retention', { retention: { completedMs: 3_600_000 } }, { backlog: false }),
  },
];
