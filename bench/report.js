'use strict';
// The one table: per metric (row) the median over runs for each variant (column), then, for each of our variants
// and each peer, the ratio ours/peer.
// Printed as aligned text, written as markdown to results/latest.md and with every raw run to results/latest.json.
const fs = require('node:fs');
const path = require('node:path');
const { median } = require('./stats');

const OURS = 'ours';

function fmt(value, unit) {
  if (value === null || value === undefined) return '—';
  if (typeof value === 'string') return value;
  if (unit === 'int') return Math.round(value).toLocaleString('en-US');
  if (unit === 'ms') return value < 10 ? value.toFixed(2) : value.toFixed(1);
  return String(value);
}

/** medians[variant][caseId][key] over the runs that produced the metric. */
function computeMedians(runs) {
  const out = {};
  for (const r of runs) {
    if (r.status !== 'ok') continue;
    for (const [key, value] of Object.entries(r.metrics)) {
      const slot = (((out[r.variant] ||= {})[r.caseId] ||= {})[key] ||= []);
      slot.push(value);
    }
  }
  for (const byCase of Object.values(out)) {
    for (const byKey of Object.values(byCase)) {
      for (const key of Object.keys(byKey)) byKey[key] = { median: median(byKey[key]), n: byKey[key].length };
    }
  }
  return out;
}

/** Builds header + rows of strings; `status[variant]` marks skipped or not-ready variants. */
function buildTable({ variants, metrics, medians, cellNote }) {
  const names = variants.map((v) => v.name);
  const ours = variants.filter((v) => v.system === OURS).map((v) => v.name);
  const peers = variants.filter((v) => v.system !== OURS).map((v) => v.name);
  const pairs = ours.flatMap((o) => peers.map((p) => [o, p]));
  const header = ['metric', ...names, ...pairs.map(([o, p]) => `${o}/${p}`)];
  const rows = metrics.map((m) => {
    const value = (name) => medians[name]?.[m.caseId]?.[m.key]?.median ?? null;
    const cells = names.map((name) => {
      const v = value(name);
      return v === null ? cellNote(name, m.caseId) : fmt(v, m.unit);
    });
    const ratios = pairs.map(([ourName, peer]) => {
      const o = value(ourName);
      const q = value(peer);
      if (o === null || q === null || q === 0) return '—';
      const r = o / q;
      return `${r >= 0.1 ? r.toFixed(2) : r.toPrecision(2)}×`;
    });
    return [`${m.label}${m.better === 'lower' ? ' ↓' : ' ↑'}`, ...cells, ...ratios];
  });
  return { header, rows };
}

function toText({ header, rows }) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

function toMarkdown({ header, rows }) {
  const esc = (c) => c.replace(/\|/g, '\\|');
  return [
    `| ${header.map(esc).join(' | ')} |`,
    `|${header.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`,
    ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ].join('\n');
}

function writeResults(dir, { table, meta, runs, medians, variants }, name = 'latest') {
  fs.mkdirSync(dir, { recursive: true });
  const md = [
    '# Benchmark results',
    '',
    `${meta.finishedAt} · ${meta.machine} (load ${meta.loadAverage1m.start} → ${meta.loadAverage1m.end}) · ` +
      `Node ${meta.node} · PostgreSQL ${meta.postgres} · ` +
      `median of ${meta.runs} run(s) per cell · ↑ higher is better, ↓ lower is better`,
    meta.filters ? `Filters: ${meta.filters}` : '',
    meta.serverSettings ? `Server (${meta.serverLabel}): ${settingsLine(meta.serverSettings)}` : '',
    '',
    toMarkdown(table),
    '',
    '## Settings',
    ...variants.map((v) => `- **${v.name}**: ${v.settings}`),
    '',
    '## Scenarios',
    ...meta.cases.map((c) => `- **${c.id}**: ${JSON.stringify(c.params)}`),
    '',
    'Each run uses a fresh database, created for it and dropped after it, and a fresh Node process.',
    `Raw numbers of every run: \`${name}.json\`.`,
    '',
  ]
    .filter((l, i, a) => !(l === '' && a[i - 1] === ''))
    .join('\n');
  writeAtomically(path.join(dir, `${name}.md`), md);
  writeAtomically(path.join(dir, `${name}.json`), `${JSON.stringify({ meta, medians, runs }, null, 2)}\n`);
}

function writeAtomically(file, text) {
  fs.writeFileSync(`${file}.tmp`, text);
  fs.renameSync(`${file}.tmp`, file);
}

function settingsLine(settings) {
  return Object.entries(settings)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
}

/**
 * The idle-transaction timelines, one table per variant (its first run): every tick, the phase, jobs started and
 * enqueued, pickup latency, backlog, dead tuples and table size. Written to `<name>.md` beside the main table.
 */
function writeTimelines(dir, { meta, runs }, name) {
  const shown = runs.filter((r) => r.caseId === 'idle-transaction' && r.status === 'ok' && r.run === 1);
  if (shown.length === 0) return null;
  const p = meta.cases.find((c) => c.id === 'idle-transaction').params;
  const mb = (bytes) => (bytes / 2 ** 20).toFixed(1);
  const lines = [
    '# Idle transaction: a snapshot held idle in the middle of a steady load',
    '',
    `${meta.finishedAt} · ${meta.machine} (load ${meta.loadAverage1m.start} → ${meta.loadAverage1m.end}) · Node ${meta.node}`,
    '',
    `Server (${meta.serverLabel}): ${settingsLine(meta.serverSettings)}`,
    '',
    `Offered load ${p.rate} jobs/s (${p.producers} producers, one enqueue at a time), concurrency ${p.concurrency}; ` +
      `a REPEATABLE READ transaction holds its snapshot idle from t=${p.beforeMs / 1000} s for ${p.holdMs / 1000} s; ` +
      `the load goes on ${p.afterMs / 1000} s after it ends. One row per ${p.tickMs / 1000} s: jobs started and enqueued in it, ` +
      'pickup latency (enqueue call → handler start) of the jobs started in it, the backlog (unfinished jobs), the dead ' +
      "tuples and total size of the system's tables.",
  ];
  for (const r of shown) {
    lines.push(
      '',
      `## ${r.variant}`,
      '',
      `Settings: ${meta.variants.find((v) => v.name === r.variant)?.settings ?? ''}`,
      '',
    );
    lines.push(
      '| t (s) | phase | started/s | enqueued/s | pickup p50 (ms) | p95 (ms) | max (ms) | backlog | dead tuples | tables (MB) |',
    );
    lines.push('| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const row of r.metrics.timeline) {
      const perSec = (n) => fmt(n / (p.tickMs / 1000), 'int');
      lines.push(
        `| ${row.t} | ${row.phase} | ${perSec(row.started)} | ${perSec(row.enqueued)} | ${fmt(row.p50, 'ms')} | ${fmt(row.p95, 'ms')} | ` +
          `${fmt(row.max, 'ms')} | ${fmt(row.backlog, 'int')} | ${fmt(row.deadTuples, 'int')} | ${mb(row.tableBytes)} |`,
      );
    }
  }
  const file = path.join(dir, `${name}.md`);
  writeAtomically(file, `${lines.join('\n')}\n`);
  return file;
}

module.exports = { computeMedians, buildTable, toText, toMarkdown, writeResults, writeTimelines, fmt };
