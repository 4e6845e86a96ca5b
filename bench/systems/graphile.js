'use strict';
// graphile-worker, in two variants:
// - fast: the settings of its performance page (worker.graphile.org/docs/performance): a local queue that locks
//   and pulls jobs in batches (`localQueue.size` 500), batched completion and failure (`completeJobBatchDelay` /
//   `failJobBatchDelay` 0: batch whatever completes in the same tick), a pool of concurrency + 1.
// - default: nothing set but the concurrency (pool 10, no local queue, per-job completion, poll 2 s).
// Both are woken by LISTEN/NOTIFY on add_job; the poll interval is only the fallback.
const { run, runMigrations, makeWorkerUtils, Logger } = require('graphile-worker');
const { Pool } = require('pg');
const { JOB_TYPE } = require('./adapter');

const silentLogger = new Logger(() => () => {});

const FAST = {
  localQueueSize: 500,
  completeJobBatchDelay: 0,
  failJobBatchDelay: 0,
};

class GraphileAdapter {
  constructor(name, fast) {
    this.name = name;
    this.system = 'graphile';
    this.schema = 'graphile_worker';
    this.fast = fast;
    this.runner = null;
    this.utils = null;
    this.pool = null;
  }

  async setup(dbUrl) {
    this.dbUrl = dbUrl;
    await runMigrations({ connectionString: dbUrl, logger: silentLogger });
    this.utils = await makeWorkerUtils({ connectionString: dbUrl, logger: silentLogger });
    this.pool = new Pool({ connectionString: dbUrl, max: 1 });
  }

  async insertMany(n) {
    const chunk = 10_000;
    for (let done = 0; done < n; done += chunk) {
      const size = Math.min(chunk, n - done);
      await this.utils.addJobs(Array.from({ length: size }, () => ({ identifier: JOB_TYPE, payload: {} })));
    }
  }

  async enqueue(payload = {}) {
    await this.utils.addJob(JOB_TYPE, payload);
  }

  async startWorker({ concurrency, onJob }) {
    const options = {
      connectionString: this.dbUrl,
      concurrency,
      noHandleSignals: true,
      logger: silentLogger,
      taskList: {
        [JOB_TYPE]: async (payload) => {
          onJob(payload);
        },
      },
    };
    if (this.fast) {
      options.maxPoolSize = concurrency + 1;
      options.preset = {
        worker: {
          localQueue: { size: FAST.localQueueSize },
          completeJobBatchDelay: FAST.completeJobBatchDelay,
          failJobBatchDelay: FAST.failJobBatchDelay,
        },
      };
    }
    this.runner = await run(options);
  }

  async countUnfinished() {
    const { rows } = await this.pool.query('select count(*)::int as n from graphile_worker._private_jobs');
    return rows[0].n;
  }

  async stop() {
    const runner = this.runner;
    this.runner = null;
    if (runner) {
      await runner.stop();
      await runner.promise.catch(() => undefined);
    }
  }

  async teardown() {
    await this.stop().catch(() => undefined);
    if (this.utils) await this.utils.release().catch(() => undefined);
    if (this.pool) await this.pool.end().catch(() => undefined);
    this.utils = null;
    this.pool = null;
  }
}

module.exports = [
  {
    name: 'graphile-fast',
    system: 'graphile',
    settings:
      `localQueue.size ${FAST.localQueueSize}, completeJobBatchDelay ${FAST.completeJobBatchDelay}, ` +
      `failJobBatchDelay ${FAST.failJobBatchDelay}, maxPoolSize concurrency+1 (its performance page's preset)`,
    create: () => new GraphileAdapter('graphile-fast', true),
  },
  {
    name: 'graphile-default',
    system: 'graphile',
    settings: 'defaults: only concurrency set (maxPoolSize 10, no local queue, per-job completion)',
    create: () => new GraphileAdapter('graphile-default', false),
  },
];
