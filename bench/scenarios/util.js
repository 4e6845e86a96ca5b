'use strict';
// Helpers shared by the scenarios: sleeping, a job counter, and waiting for a drain under a deadline.
const { performance } = require('node:perf_hooks');

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Counts handler starts; `onJob` is what the adapters call as the first statement of their no-op handler. */
function makeCounter() {
  const counter = {
    count: 0,
    lastAt: 0,
    onJob: () => {
      counter.count += 1;
      counter.lastAt = performance.now();
    },
  };
  return counter;
}

/**
 * Resolves when the handler ran `n` times and the database holds no unfinished job; throws past `deadline`
 * (a performance.now() value).
 */
async function waitUntilDrained(adapter, counter, n, deadline) {
  while (counter.count < n) {
    if (performance.now() > deadline) throw new Error(`timeout: handler ran ${counter.count} of ${n} jobs`);
    await sleep(2);
  }
  for (;;) {
    const left = await adapter.countUnfinished();
    if (left === 0) return;
    if (performance.now() > deadline) throw new Error(`timeout: ${left} jobs still unfinished in the database`);
    await sleep(5);
  }
}

module.exports = { sleep, makeCounter, waitUntilDrained, performance };
