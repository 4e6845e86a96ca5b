'use strict';
// The soak's timeline as one SVG, written by hand: four panels over the same time axis (sizes and dead tuples,
// claim time, enqueue-to-start time, the worker's RSS), the idle transaction's window shaded in each.

const WIDTH = 900;
const PANEL_HEIGHT = 170;
const MARGIN = { left: 70, right: 150, top: 28, bottom: 26 };
const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd'];

const escape = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function niceMax(value) {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

/**
 * One panel: `series` = [{ label, values: (number|null)[] }] over `xs`; `axis` names the unit; `hold` = [from, to]
 * in x units, shaded.
 */
function panel({ top, title, axis, xs, series, hold, xMax, format }) {
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = PANEL_HEIGHT - MARGIN.top - MARGIN.bottom;
  const yMax = niceMax(Math.max(0, ...series.flatMap((s) => s.values.filter((v) => v !== null && Number.isFinite(v)))));
  const x = (v) => MARGIN.left + (v / xMax) * plotWidth;
  const y = (v) => top + MARGIN.top + plotHeight - (v / yMax) * plotHeight;
  const parts = [`<text x="${MARGIN.left}" y="${top + 16}" font-weight="bold">${escape(title)}</text>`];
  if (hold) {
    parts.push(
      `<rect x="${x(hold[0])}" y="${y(yMax)}" width="${x(hold[1]) - x(hold[0])}" height="${plotHeight}" fill="#f3d9a4" opacity="0.6"/>`,
    );
  }
  parts.push(
    `<rect x="${MARGIN.left}" y="${y(yMax)}" width="${plotWidth}" height="${plotHeight}" fill="none" stroke="#888"/>`,
  );
  for (const tick of [0, 0.5, 1]) {
    const v = tick * yMax;
    parts.push(
      `<text x="${MARGIN.left - 6}" y="${y(v) + 4}" text-anchor="end" font-size="11">${escape(format(v))}</text>`,
    );
  }
  parts.push(
    `<text x="14" y="${y(yMax / 2)}" font-size="11" transform="rotate(-90 14 ${y(yMax / 2)})" text-anchor="middle">${escape(axis)}</text>`,
  );
  series.forEach((s, i) => {
    const colour = COLOURS[i % COLOURS.length];
    const points = xs
      .map((xv, k) =>
        s.values[k] === null || !Number.isFinite(s.values[k])
          ? null
          : `${x(xv).toFixed(1)},${y(s.values[k]).toFixed(1)}`,
      )
      .filter(Boolean);
    parts.push(`<polyline fill="none" stroke="${colour}" stroke-width="1.6" points="${points.join(' ')}"/>`);
    const ly = top + MARGIN.top + 14 + i * 16;
    parts.push(
      `<line x1="${WIDTH - MARGIN.right + 10}" y1="${ly - 4}" x2="${WIDTH - MARGIN.right + 28}" y2="${ly - 4}" stroke="${colour}" stroke-width="2"/>`,
      `<text x="${WIDTH - MARGIN.right + 32}" y="${ly}" font-size="11">${escape(s.label)}</text>`,
    );
  });
  return parts.join('\n');
}

/** The whole plot: `rows` of the soak, `holdMinutes` = [from, to], `title` names the run. */
function soakSvg({ rows, holdMinutes, title, xLabel }) {
  const xs = rows.map((r) => r.minute);
  const xMax = Math.max(...xs, 1);
  const ms = (v) => (v >= 10 ? v.toFixed(0) : v.toFixed(1));
  const panels = [
    {
      title: 'jobs table and its indexes (MiB), dead tuples (thousands)',
      axis: 'MiB / thousands',
      series: [
        { label: 'table MiB', values: rows.map((r) => r.tableBytes / 2 ** 20) },
        { label: 'indexes MiB', values: rows.map((r) => r.indexBytes / 2 ** 20) },
        { label: 'dead tuples (k)', values: rows.map((r) => r.deadTuples / 1000) },
      ],
      format: (v) => v.toFixed(v >= 10 ? 0 : 1),
    },
    {
      title: 'claim statement (ms)',
      axis: 'ms',
      series: [
        { label: 'claim p50', values: rows.map((r) => r.claimP50Ms) },
        { label: 'claim p99', values: rows.map((r) => r.claimP99Ms) },
      ],
      format: ms,
    },
    {
      title: 'enqueue to start (ms)',
      axis: 'ms',
      series: [
        { label: 'wait p50', values: rows.map((r) => r.waitP50Ms) },
        { label: 'wait p99', values: rows.map((r) => r.waitP99Ms) },
      ],
      format: ms,
    },
    {
      title: "worker's resident memory (MiB)",
      axis: 'MiB',
      series: [{ label: 'RSS', values: rows.map((r) => r.rssMiB) }],
      format: (v) => v.toFixed(0),
    },
  ];
  const height = panels.length * PANEL_HEIGHT + 50;
  const body = panels.map((p, i) => panel({ ...p, top: 30 + i * PANEL_HEIGHT, xs, hold: holdMinutes, xMax }));
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const axisY = height - 12;
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => {
    const v = f * xMax;
    return `<text x="${MARGIN.left + f * plotWidth}" y="${axisY}" font-size="11" text-anchor="middle">${v.toFixed(v >= 10 ? 0 : 1)}</text>`;
  });
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${MARGIN.left}" y="18" font-size="14" font-weight="bold">${escape(title)}</text>`,
    ...body,
    ...ticks,
    `<text x="${WIDTH - MARGIN.right + 10}" y="${axisY}" font-size="11">${escape(xLabel)}</text>`,
    '</svg>',
    '',
  ].join('\n');
}

module.exports = { soakSvg };
