'use strict';
// One worker instance of the `instances` scenario, in a process of its own (as a deployment runs one app per
// process): `node instance-worker.js '{"variant","dbUrl","concurrency"}'`. Prints READY once set up, starts its
// worker on a `GO` line from stdin, prints `RAN <jobs its handler ran so far>` every 10 ms while that grows (so that
// the scenario learns the drain is over without querying the database meanwhile), and on `STOP` stops it and prints
// `DONE <jobs its handler ran>`, then exits.
const readline = require('node:readline');
const variants = require('./systems');

async function main() {
  const { variant: name, dbUrl, concurrency } = JSON.parse(process.argv[2]);
  const variant = variants.find((v) => v.name === name);
  if (!variant) throw new Error(`unknown variant ${name}`);
  const adapter = variant.create();
  let count = 0;
  let reported = 0;
  const progress = setInterval(() => {
    if (count === reported) return;
    reported = count;
    process.stdout.write(`RAN ${count}\n`);
  }, 10);
  progress.unref();
  await adapter.setup(dbUrl, { concurrency, scenario: 'instances' });
  process.stdout.write('READY\n');
  const lines = readline.createInterface({ input: process.stdin });
  for await (const line of lines) {
    if (line === 'GO') {
      await adapter.startWorker({ concurrency, onJob: () => (count += 1) });
    } else if (line === 'STOP') {
      clearInterval(progress);
      await adapter.stop();
      process.stdout.write(`DONE ${count}\n`);
      await adapter.teardown();
      return;
    }
  }
}

main().then(
  () => process.exit(0),
  (error) => {
    process.stderr.write(`instance-worker: ${error && error.stack ? error.stack : error}\n`);
    process.exit(1);
  },
);
