'use strict';
// CPU time of this machine's PostgreSQL and Node processes, from /proc (Linux): every process whose name starts with
// `postgres` (the server and its backends) or `node` (the instances, and this harness, idle meanwhile). Processes
// that start and end between two readings are not counted; the `instances` scenario's all live through its drain.
// Machine-wide: run on a quiet machine. Elsewhere than Linux the numbers are absent.
const fs = require('node:fs');

/** Clock ticks (1/100 s on Linux) of user and system time so far, per process group. */
function cpuTicks() {
  const ticks = { postgres: 0, node: 0 };
  let pids;
  try {
    pids = fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  } catch {
    return null;
  }
  for (const pid of pids) {
    let stat;
    try {
      stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue; // ended meanwhile
    }
    const close = stat.lastIndexOf(')');
    const name = stat.slice(stat.indexOf('(') + 1, close);
    const group = name.startsWith('postgres') ? 'postgres' : name.startsWith('node') ? 'node' : null;
    if (!group) continue;
    const fields = stat.slice(close + 2).split(' ');
    ticks[group] += Number(fields[11]) + Number(fields[12]); // utime, stime
  }
  return ticks;
}

/** µs of CPU per job between two readings, per group. */
function cpuPerJob(before, after, jobs) {
  if (!before || !after) return {};
  const us = (group) => ((after[group] - before[group]) * 10_000) / jobs;
  return { postgresCpuUsPerJob: us('postgres'), nodeCpuUsPerJob: us('node') };
}

module.exports = { cpuTicks, cpuPerJob };
