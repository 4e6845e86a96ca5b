'use strict';
// Percentiles of one interval from two scrapes of a Prometheus histogram: the difference of the cumulative bucket
// counts is the histogram of the observations made between the scrapes. The value is interpolated linearly inside
// its bucket, so its resolution is the bucket's width; one in the +Inf bucket reads as the last finite bound.

/** The cumulative buckets of `name` in a /metrics text, summed over every label set but `le`: Map(le → count). */
function readBuckets(text, name) {
  const buckets = new Map();
  const prefix = `${name}_bucket{`;
  for (const line of text.split('\n')) {
    if (!line.startsWith(prefix)) continue;
    const le = /le="([^"]+)"/.exec(line);
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (!le || !Number.isFinite(value)) continue;
    const bound = le[1] === '+Inf' ? Infinity : Number(le[1]);
    buckets.set(bound, (buckets.get(bound) ?? 0) + value);
  }
  return buckets;
}

/** The `q` percentile (0–100) of the observations between `before` and `after`, or null when there were none. */
function percentileBetween(before, after, q) {
  const bounds = [...after.keys()].sort((a, b) => a - b);
  const counts = bounds.map((b) => (after.get(b) ?? 0) - (before.get(b) ?? 0));
  const total = counts[counts.length - 1] ?? 0;
  if (total <= 0) return null;
  const rank = (q / 100) * total;
  for (let i = 0; i < bounds.length; i += 1) {
    if (counts[i] < rank) continue;
    const lower = i === 0 ? 0 : bounds[i - 1];
    if (bounds[i] === Infinity) return lower;
    const below = i === 0 ? 0 : counts[i - 1];
    const inBucket = counts[i] - below;
    return inBucket > 0 ? lower + ((rank - below) / inBucket) * (bounds[i] - lower) : bounds[i];
  }
  return bounds[bounds.length - 2] ?? null;
}

module.exports = { readBuckets, percentileBetween };
