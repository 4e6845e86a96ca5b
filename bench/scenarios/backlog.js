'use strict';
// backlog (systems whose adapter has `backlog`): time of one claim of `claimLimit` jobs with a small and a huge
// pending backlog, filled with one INSERT … SELECT generate_series and followed by VACUUM ANALYZE (as autovacuum
// would have done by then). No worker runs; claimed jobs stay claimed, so the pending count is topped up.
const { performance } = require('./util');
const { percentile } = require('../stats');
const { execOn } = require('../db');

module.exports = async function backlog(adapter, { sizes, claims, claimLimit, concurrency }, { dbUrl, deadline }) {
  await adapter.setup(dbUrl, { concurrency, scenario: 'backlog' });
  const probe = adapter.backlog;
  const result = {};
  let pending = 0;
  for (const size of sizes) {
    const t = performance.now();
    await probe.fill(size - pending);
    result[`fillMs_${size}`] = performance.now() - t;
    pending = size;
    await execOn(dbUrl, 'VACUUM ANALYZE');
    const times = [];
    let claimed = 0;
    for (let i = 0; i < claims; i += 1) {
      if (performance.now() > deadline) throw new Error(`timeout at ${size} pending`);
      const t0 = performance.now();
      const got = await probe.claimOnce(claimLimit);
      times.push(performance.now() - t0);
      if (got !== claimLimit) throw new Error(`claim returned ${got} jobs, expected ${claimLimit}`);
      claimed += got;
    }
    result[`claimMs_${size}`] = percentile(times, 50);
    result[`claimP95Ms_${size}`] = percentile(times, 95);
    pending -= claimed;
  }
  return result;
};
