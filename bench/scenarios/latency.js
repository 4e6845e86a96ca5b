'use strict';
// latency: an idle worker, one job at a time; each sample is the time from the enqueue promise resolving (the
// insert committed) to the handler's first statement. A random gap between samples lets polling workers be
// caught at any phase (otherwise a polling worker, whose timer restarts at each fetch, is always met at the same
// phase). A handler that starts before the enqueue promise resolves counts as 0 ms.
const { sleep, performance } = require('./util');
const { percentile, mean, max } = require('../stats');

module.exports = async function latency(adapter, params, { dbUrl, deadline }) {
  const { samples, warmup, concurrency, gapMs, sampleTimeoutMs } = params;
  await adapter.setup(dbUrl, { concurrency, scenario: 'latency' });

  let waiter = null;
  const onJob = () => {
    const at = performance.now();
    if (waiter) {
      const w = waiter;
      waiter = null;
      w(at);
    }
  };
  await adapter.startWorker({ concurrency, onJob });
  await sleep(200);

  const values = [];
  let early = 0;
  let timeouts = 0;
  for (let i = 0; i < warmup + samples; i += 1) {
    if (performance.now() > deadline) throw new Error(`timeout after ${values.length} samples`);
    let timer;
    const started = new Promise((resolve) => {
      waiter = resolve;
    });
    const timedOut = new Promise((resolve) => {
      timer = setTimeout(() => resolve(null), sampleTimeoutMs);
    });
    await adapter.enqueue();
    const committedAt = performance.now();
    const startAt = await Promise.race([started, timedOut]);
    clearTimeout(timer);
    waiter = null;
    if (startAt === null) {
      timeouts += 1;
      if (timeouts > 5) throw new Error(`${timeouts} samples got no handler start within ${sampleTimeoutMs} ms`);
    } else if (i >= warmup) {
      const ms = startAt - committedAt;
      if (ms < 0) early += 1;
      values.push(Math.max(0, ms));
    }
    await sleep(gapMs[0] + Math.random() * (gapMs[1] - gapMs[0]));
  }
  await adapter.stop();
  return {
    p50: percentile(values, 50),
    p95: percentile(values, 95),
    p99: percentile(values, 99),
    mean: mean(values),
    max: max(values),
    samples: values.length,
    startedBeforeResolve: early,
    timeouts,
  };
};
