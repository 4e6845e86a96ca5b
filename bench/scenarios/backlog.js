'use strict';
// backlog (systems whose adapter has `backlog`): time of one claim of `claimLimit` jobs with a small and a huge
// pending backlog, filled with one INSERT … SELECT generate_series and followed by VACUUM ANALYZE (as autovacuum
// would have done by then). No worker runs; claimed jobs stay claimed, so the pending count is topped up.
// Then, where the probe can (`fillOther`), the same claims with `otherType` pending jobs of a type the claim does not
// serve ahead of a small backlog of its own: what another service's (or a paused consumer's) backlog costs a claim.
const { performance } = require('./util');
const { percentile } = require('../stats');
const { execOn } = require('../db');

module.exports = async function backlog(
  adapter,
  { sizes, claims, claimLimit, concurrency, otherType },
  { dbUrl, deadline },
) {
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
    const times = await timeClaims(probe, claims, claimLimit, deadline, `${size} pending`);
    result[`claimMs_${size}`] = percentile(times, 50);
    result[`claimP95Ms_${size}`] = percentile(times, 95);
    pending -= claims * claimLimit;
  }
  if (otherType && probe.fillOther) {
    await probe.clear();
    const t = performance.now();
    await probe.fillOther(otherType);
    result[`fillMs_other_${otherType}`] = performance.now() - t;
    await probe.fill(claims * claimLimit);
    await execOn(dbUrl, 'VACUUM ANALYZE');
    const times = await timeClaims(probe, claims, claimLimit, deadline, `${otherType} of another type`);
    result[`claimMs_other_${otherType}`] = percentile(times, 50);
    result[`claimP95Ms_other_${otherType}`] = percentile(times, 95);
  }
  return result;
};

async function timeClaims(probe, claims, claimLimit, deadline, what) {
  const times = [];
  for (let i = 0; i < claims; i += 1) {
    if (performance.now() > deadline) throw new Error(`timeout at ${what}`);
    const t0 = performance.now();
    const got = await probe.claimOnce(claimLimit);
    times.push(performance.now() - t0);
    if (got !== claimLimit) throw new Error(`claim returned ${got} jobs, expected ${claimLimit}`);
  }
  return times;
}
