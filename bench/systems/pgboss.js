'use strict';
// pg-boss 10 (the last major that runs on Node 20; 11+ needs Node 22), tuned for throughput:
// - concurrency C = C calls of `work()` (v10 has no teamSize: "each call to work() adds a new polling worker");
// - `batchSize` 1,000: each worker fetches up to 1,000 jobs per query and completes them in one statement;
// - `pollingIntervalSeconds` 0.5, its minimum (v10 workers only poll: `send()` wakes no worker);
// - pool `max` = concurrency + 2, so that every worker, the completions and the producers find a connection;
// - `supervise` and `schedule` off: no maintenance or cron loops competing during a run of a few seconds.
const PgBoss = require('pg-boss');
const { JOB_TYPE } = require('./adapter');

const SETTINGS = { batchSize: 1000, pollingIntervalSeconds: 0.5 };

class PgBossAdapter {
  constructor() {
    this.name = 'pgboss';
    this.system = 'pgboss';
    this.schema = 'pgboss';
    this.boss = null;
    this.working = false;
  }

  async setup(dbUrl, { concurrency }) {
    this.boss = new PgBoss({
      connectionString: dbUrl,
      max: concurrency + 2,
      supervise: false,
      schedule: false,
      migrate: true,
    });
    this.boss.on('error', (err) => process.stderr.write(`pg-boss error: ${err.message}\n`));
    await this.boss.start();
    await this.boss.createQueue(JOB_TYPE);
  }

  async insertMany(n) {
    const chunk = 10_000;
    for (let done = 0; done < n; done += chunk) {
      const size = Math.min(chunk, n - done);
      await this.boss.insert(Array.from({ length: size }, () => ({ name: JOB_TYPE, data: {} })));
    }
  }

  async enqueue(payload = {}) {
    await this.boss.send(JOB_TYPE, payload);
  }

  async startWorker({ concurrency, onJob }) {
    const handler = async (jobs) => {
      for (const job of jobs) onJob(job.data);
    };
    for (let i = 0; i < concurrency; i += 1) {
      await this.boss.work(JOB_TYPE, SETTINGS, handler);
    }
    this.working = true;
  }

  async countUnfinished() {
    const { rows } = await this.boss
      .getDb()
      .executeSql(
        "select count(*)::int as n from pgboss.job where name = $1 and state in ('created', 'retry', 'active')",
        [JOB_TYPE],
      );
    return rows[0].n;
  }

  async stop() {
    if (this.working) {
      this.working = false;
      await this.boss.offWork(JOB_TYPE);
    }
  }

  async teardown() {
    const boss = this.boss;
    this.boss = null;
    if (boss) await boss.stop({ graceful: true, wait: true, timeout: 5000 }).catch(() => undefined);
  }
}

module.exports = [
  {
    name: 'pgboss',
    system: 'pgboss',
    settings:
      `concurrency C = C work() calls, batchSize ${SETTINGS.batchSize}, ` +
      `pollingIntervalSeconds ${SETTINGS.pollingIntervalSeconds} (its minimum), pool max C+2, supervise/schedule off`,
    create: () => new PgBossAdapter(),
  },
];
