'use strict';
// One run of one case for one variant, in a process of its own (so no state, pool or timer leaks from one run
// into the next). Called by run.js as `node run-one.js '<json>'`; prints exactly one protocol line on stdout:
//   BENCH_RESULT {...metrics}   BENCH_SKIP <reason>   BENCH_NOTREADY {scope, message}   BENCH_ERROR <message>
// Logs go to stderr. The run stops by itself: the scenario checks `deadline`, and a watchdog exits past it.
const { performance } = require('node:perf_hooks');
const variants = require('./systems');
const scenarios = require('./scenarios');
const { caseById } = require('./config');
const { NotReady } = require('./systems/adapter');

function say(kind, payload) {
  process.stdout.write(
    `${kind} ${typeof payload === 'string' ? payload.replace(/\s+/g, ' ') : JSON.stringify(payload)}\n`,
  );
}

async function main() {
  const { variant: variantName, caseId, dbUrl } = JSON.parse(process.argv[2]);
  const variant = variants.find((v) => v.name === variantName);
  if (!variant) throw new Error(`unknown variant ${variantName}`);
  const spec = caseById(caseId);
  const deadline = performance.now() + spec.timeoutMs - 10_000;
  const watchdog = setTimeout(() => {
    say('BENCH_ERROR', `watchdog: ${caseId} on ${variantName} still running after ${spec.timeoutMs - 5_000} ms`);
    process.exit(1);
  }, spec.timeoutMs - 5_000);
  watchdog.unref();

  const adapter = variant.create();
  if (spec.scenario === 'backlog' && !adapter.backlog) {
    say('BENCH_SKIP', `${variantName} has no backlog probe`);
    return 0;
  }
  try {
    const metrics = await scenarios[spec.scenario](adapter, spec.params, { dbUrl, deadline });
    say('BENCH_RESULT', metrics);
    return 0;
  } catch (err) {
    if (err instanceof NotReady || (err && err.name === 'NotReady')) {
      say('BENCH_NOTREADY', { scope: err.scope || 'system', message: err.message });
      return 0;
    }
    say('BENCH_ERROR', err && err.stack ? err.stack.split('\n').slice(0, 3).join(' | ') : String(err));
    return 1;
  } finally {
    await Promise.race([adapter.teardown().catch(() => undefined), new Promise((r) => setTimeout(r, 10_000).unref())]);
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    say('BENCH_ERROR', String(err && err.message ? err.message : err));
    process.exit(1);
  },
);
