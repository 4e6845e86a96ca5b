'use strict';
// steady: one worker at `concurrency` consumes while `producers` loops each enqueue one job at a time (awaiting
// each) for `durationMs`; jobs/s = handler runs inside that window / window length.
const { makeCounter, sleep, performance } = require('./util');

module.exports = async function steady(adapter, { producers, durationMs, concurrency }, { dbUrl, deadline }) {
  await adapter.setup(dbUrl, { concurrency, scenario: 'steady' });
  const counter = makeCounter();
  await adapter.startWorker({ concurrency, onJob: counter.onJob });
  await sleep(200); // let the worker settle (LISTEN, first empty poll)

  let enqueued = 0;
  const t0 = performance.now();
  const handledBefore = counter.count;
  const end = Math.min(t0 + durationMs, deadline);
  const producer = async () => {
    while (performance.now() < end) {
      await adapter.enqueue();
      enqueued += 1;
    }
  };
  await Promise.all(Array.from({ length: producers }, producer));
  const windowMs = performance.now() - t0;
  const handled = counter.count - handledBefore;
  await adapter.stop();
  return {
    jobsPerSec: handled / (windowMs / 1000),
    enqueuedPerSec: enqueued / (windowMs / 1000),
    handled,
    enqueued,
    windowMs,
  };
};
