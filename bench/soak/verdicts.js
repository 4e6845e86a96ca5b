'use strict';
// The soak's targets, checked against its rows. The first WARM_UP_ROWS rows (the worker's JIT, pool and caches
// warming) are left out of every steady level.

const WARM_UP_ROWS = 3;
const RECOVERY_ROWS = 5; // "within 5 minutes" of an hour: 5 of the 60 rows
const SIZE_MARGIN = 1.1;
const CLAIM_P99_FACTOR = 10;

const median = (values) => {
  const v = values.filter((x) => x !== null && Number.isFinite(x)).sort((a, b) => a - b);
  return v.length ? v[Math.floor((v.length - 1) / 2)] : null;
};

/** Least-squares slope of `ys` over `xs`. */
function slope(xs, ys) {
  const n = xs.length;
  if (n < 2) return 0;
  const mx = xs.reduce((s, x) => s + x, 0) / n;
  const my = ys.reduce((s, y) => s + y, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i += 1) {
    num += (xs[i] - mx) * (ys[i] - my);
    den += (xs[i] - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

/** The first row after the hold whose `value` is back at or below `limit`, as minutes after the hold ended. */
function backAfter(rows, holdToMinute, value, limit) {
  const row = rows.find((r) => r.minute > holdToMinute && value(r) <= limit);
  return row ? row.minute - holdToMinute : null;
}

function verdicts({ rows, holdFromMinute, holdToMinute, minutes, acked, failedBatches, final }) {
  const rowMinutes = minutes / rows.length;
  const measured = rows.slice(WARM_UP_ROWS);
  const steady = measured.filter((r) => r.minute <= holdFromMinute);
  const checks = [];
  const mins = (m) => (m === null ? 'never' : `${m.toFixed(2)} min`);

  const size = (r) => r.tableBytes + r.indexBytes;
  const steadySize = Math.max(...steady.map(size));
  const peakSize = Math.max(...rows.map(size));
  const sizeBack = backAfter(rows, holdToMinute, size, steadySize * SIZE_MARGIN);
  checks.push({
    target: `table + indexes back within ${SIZE_MARGIN}× their steady maximum within ${(RECOVERY_ROWS * rowMinutes).toFixed(2)} min of the transaction's end`,
    measured: `steady max ${(steadySize / 2 ** 20).toFixed(2)} MiB, peak ${(peakSize / 2 ** 20).toFixed(2)} MiB, back after ${mins(sizeBack)}`,
    ok: sizeBack !== null && sizeBack <= RECOVERY_ROWS * rowMinutes + 1e-9,
  });
  const steadyDead = Math.max(...steady.map((r) => r.deadTuples));
  const deadBack = backAfter(rows, holdToMinute, (r) => r.deadTuples, Math.max(steadyDead * SIZE_MARGIN, 1));
  checks.push({
    target: `dead tuples back to their steady maximum within ${(RECOVERY_ROWS * rowMinutes).toFixed(2)} min`,
    measured: `steady max ${steadyDead}, peak ${Math.max(...rows.map((r) => r.deadTuples))}, back after ${mins(deadBack)}`,
    ok: deadBack !== null && deadBack <= RECOVERY_ROWS * rowMinutes + 1e-9,
  });

  const steadyClaimP99 = median(steady.map((r) => r.claimP99Ms));
  const worstClaimP99 = Math.max(...measured.map((r) => r.claimP99Ms ?? 0));
  checks.push({
    target: `claim p99 never above ${CLAIM_P99_FACTOR}× its steady value`,
    measured: `steady ${steadyClaimP99?.toFixed(2)} ms, worst ${worstClaimP99.toFixed(2)} ms (${(worstClaimP99 / steadyClaimP99).toFixed(1)}×)`,
    ok: steadyClaimP99 !== null && worstClaimP99 <= CLAIM_P99_FACTOR * steadyClaimP99,
  });

  // RSS: the trend over the run after warm-up, as a least-squares line; flat when it adds less than 10 % of the
  // median (and at least 16 MiB: a collector's swing) over the whole run.
  const rss = measured.filter((r) => r.rssMiB !== null);
  const rssSlope = slope(
    rss.map((r) => r.minute),
    rss.map((r) => r.rssMiB),
  );
  const rssMedian = median(rss.map((r) => r.rssMiB));
  const growth = rssSlope * minutes;
  const allowed = Math.max(0.1 * rssMedian, 16);
  checks.push({
    target: 'worker RSS flat: its trend adds less than max(10 % of the median, 16 MiB) over the run',
    measured: `median ${rssMedian.toFixed(1)} MiB, trend ${growth >= 0 ? '+' : ''}${growth.toFixed(1)} MiB over ${minutes} min (allowed ${allowed.toFixed(1)})`,
    ok: growth < allowed,
  });

  const lostOk =
    final.live === 0 &&
    final.dead === 0 &&
    final.effects === final.jobsWithEffect &&
    (failedBatches === 0 ? final.jobsWithEffect === acked : final.jobsWithEffect >= acked);
  checks.push({
    target: 'nothing lost: every acknowledged job ran, once',
    measured: `${acked} acknowledged, ${final.jobsWithEffect} with an effect, ${final.effects - final.jobsWithEffect} duplicate effects, ${final.live} live, ${final.dead} dead`,
    ok: lostOk,
  });

  // Not targets, but what a reader of a short run needs to weigh the verdicts above.
  const notes = [];
  const held = rows.filter((r) => r.minute > holdFromMinute && r.minute <= holdToMinute + rowMinutes * RECOVERY_ROWS);
  if (Math.max(...held.map((r) => r.deadTuples)) <= steadyDead) {
    notes.push(
      `The idle transaction did not raise the dead tuples above their steady maximum (the library's vacuum ` +
        `threshold sawtooth): at this rate it was held too short to matter; the full hour holds it 5 minutes.`,
    );
  }
  const indexSlope = slope(
    measured.map((r) => r.minute),
    measured.map((r) => r.indexBytes),
  );
  notes.push(
    `Index size trend: ${indexSlope >= 0 ? '+' : ''}${((indexSlope * 60) / 2 ** 20).toFixed(2)} MiB per hour ` +
      `(from ${(measured[0].indexBytes / 2 ** 20).toFixed(2)} to ${(measured[measured.length - 1].indexBytes / 2 ** 20).toFixed(2)} MiB).`,
  );

  return {
    notes,
    checks,
    passed: checks.every((c) => c.ok),
    lines: [...checks.map((c) => `${c.ok ? 'met   ' : 'MISSED'} ${c.target}: ${c.measured}`), ...notes],
  };
}

module.exports = { verdicts };
