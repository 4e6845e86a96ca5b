'use strict';
// Small statistics over arrays of numbers; null and non-finite values are ignored.

function clean(values) {
  return values.filter((v) => typeof v === 'number' && Number.isFinite(v)).sort((a, b) => a - b);
}

/** Percentile by linear interpolation between closest ranks; p in [0, 100]. */
function percentile(values, p) {
  const xs = clean(values);
  if (xs.length === 0) return null;
  const rank = (p / 100) * (xs.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return xs[lo] + (xs[hi] - xs[lo]) * (rank - lo);
}

function median(values) {
  return percentile(values, 50);
}

function mean(values) {
  const xs = clean(values);
  return xs.length === 0 ? null : xs.reduce((a, b) => a + b, 0) / xs.length;
}

function max(values) {
  const xs = clean(values);
  return xs.length === 0 ? null : xs[xs.length - 1];
}

module.exports = { percentile, median, mean, max };
