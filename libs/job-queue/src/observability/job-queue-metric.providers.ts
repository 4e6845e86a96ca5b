import type { FactoryProvider } from '@nestjs/common';
import { METRIC } from './metric-names';
import { loadPromClient } from './prom-client.loader';

const byJob = ['queue', 'type'];

interface MetricDeclaration {
  name: string;
  help: string;
  labelNames?: string[];
  buckets?: number[];
}

/** The surface of a prom-client metric the queue uses; a no-op stands in when the app has no prom-client. */
export interface QueueMetric {
  inc(labels?: Record<string, string>): void;
  set(labelsOrValue: Record<string, string> | number, value?: number): void;
  observe(labels: Record<string, string>, value: number): void;
  reset(): void;
  /** Drops the series of these labels (a label whose value will not come again). */
  remove(labels: Record<string, string>): void;
}

const noopMetric: QueueMetric = { inc() {}, set() {}, observe() {}, reset() {}, remove() {} };

/** Injection token of one of the library's metrics. */
export function metricToken(name: string): symbol {
  return Symbol.for(`job-queue:metric:${name}`);
}

function metricProvider(kind: 'Counter' | 'Gauge' | 'Histogram', declaration: MetricDeclaration): FactoryProvider {
  return {
    provide: metricToken(declaration.name),
    useFactory: () => {
      const client = loadPromClient();
      if (!client) return noopMetric;
      // Reuse a metric of this name: a second app in one process (or the app itself) may have declared it already.
      return (
        client.register.getSingleMetric(declaration.name) ??
        new client[kind]({ ...declaration, labelNames: declaration.labelNames ?? [] })
      );
    },
  };
}

const makeCounterProvider = (declaration: MetricDeclaration) => metricProvider('Counter', declaration);
const makeGaugeProvider = (declaration: MetricDeclaration) => metricProvider('Gauge', declaration);
const makeHistogramProvider = (declaration: MetricDeclaration) => metricProvider('Histogram', declaration);

/**
 * The library declares its metrics as providers; they land in prom-client's default registry, which the app
 * exposes with its own `PrometheusModule.register()` (the library never registers it). A second app in one process
 * reuses the same metrics. Without prom-client in the app, every metric is a no-op.
 */
export const jobQueueMetricProviders = [
  makeCounterProvider({ name: METRIC.enqueued, help: 'Jobs inserted by the producer', labelNames: byJob }),
  makeCounterProvider({ name: METRIC.completed, help: 'Jobs whose handler succeeded', labelNames: byJob }),
  makeCounterProvider({ name: METRIC.retried, help: 'Failed attempts scheduled to run again', labelNames: byJob }),
  makeCounterProvider({ name: METRIC.dead, help: 'Jobs moved to the dead-letter table', labelNames: byJob }),
  makeCounterProvider({ name: METRIC.cancelled, help: 'Jobs cancelled, pending or running', labelNames: byJob }),
  makeCounterProvider({
    name: METRIC.recovered,
    help: 'Jobs whose lease expired and that the rescuer returned to pending or dead-lettered',
    labelNames: byJob,
  }),
  makeCounterProvider({
    name: METRIC.leaseLost,
    help: 'Attempts whose lease was taken over by another instance; their result was discarded',
    labelNames: byJob,
  }),
  makeHistogramProvider({
    name: METRIC.duration,
    help: 'Handler run time per attempt, by outcome (completed, retried, dead, lease_lost, released)',
    labelNames: ['queue', 'type', 'outcome'],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
  }),
  makeHistogramProvider({
    name: METRIC.wait,
    help: 'Time from a job being created to its attempt starting (database clock)',
    labelNames: byJob,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600],
  }),
  makeGaugeProvider({
    name: METRIC.inFlight,
    help: 'Jobs claimed by this instance and not yet finished: running, or written back',
  }),
  makeGaugeProvider({ name: METRIC.concurrency, help: 'Configured job concurrency of this instance' }),
  makeGaugeProvider({
    name: METRIC.depth,
    help: 'Jobs per queue and status (pending, processing, dead), sampled on an interval',
    labelNames: ['queue', 'status'],
  }),
  makeGaugeProvider({
    name: METRIC.oldestPendingAge,
    help: 'Seconds the oldest runnable pending job has waited to be claimed (0 when none), sampled on an interval',
  }),
  makeCounterProvider({ name: METRIC.claimErrors, help: 'Claim queries that failed (database errors)' }),
  makeGaugeProvider({
    name: METRIC.listenerConnected,
    help: '1 while the LISTEN connection is up, 0 while the worker relies on polling alone',
  }),
  makeGaugeProvider({ name: METRIC.poolWaiting, help: 'Clients waiting for a connection of the queue pool' }),
  makeGaugeProvider({ name: METRIC.lastPollAge, help: 'Seconds since the claim loop last ran' }),
  makeGaugeProvider({
    name: METRIC.unserved,
    help:
      'Pending jobs that no live worker serves, by queue and type (other when this instance does not serve them), ' +
      'counted up to 10000 per pair for at most 50 pairs; sampled on an interval',
    labelNames: byJob,
  }),
  makeHistogramProvider({
    name: METRIC.claimDuration,
    help: 'Time of one claim statement of this instance (with the completions it carries), per claim',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  }),
  makeGaugeProvider({
    name: METRIC.claimRowsExamined,
    help: 'Index entries read per scan of the pending-row (claim) index over the last sample interval, dead entries included; all instances',
  }),
  makeGaugeProvider({
    name: METRIC.oldestTransactionAge,
    help: 'Seconds since the start of the oldest transaction of the database holding back the xmin horizon (0 when none), sampled',
  }),
  makeGaugeProvider({
    name: METRIC.deadTuples,
    help: 'Dead tuples of the queue tables (pg_stat_user_tables.n_dead_tup), sampled',
    labelNames: ['table'],
  }),
  makeCounterProvider({
    name: METRIC.vacuums,
    help: 'Vacuums of the queue tables this instance ran or passed up, by outcome (vacuumed, busy, horizon_held, denied)',
    labelNames: ['table', 'outcome'],
  }),
  makeCounterProvider({
    name: METRIC.indexRebuilds,
    help: 'Indexes of the queue tables this instance rebuilt after a bloat (rebuilt), dropped as leftovers of a failed rebuild (dropped), or could not rebuild (busy, denied)',
    labelNames: ['table', 'outcome'],
  }),
  makeCounterProvider({
    name: METRIC.scheduleFired,
    help: 'Schedule slots this instance created a job for, by schedule',
    labelNames: ['schedule'],
  }),
  makeCounterProvider({
    name: METRIC.scheduleSkipped,
    help: 'Schedule slots this instance passed because the previous job of the schedule was still live (overlap skip)',
    labelNames: ['schedule'],
  }),
  makeCounterProvider({
    name: METRIC.scheduleMissed,
    help: 'Schedule slots passed without a job because no instance fired them in time (left out by the catch-up policy)',
    labelNames: ['schedule'],
  }),
  makeCounterProvider({
    name: METRIC.limitHeld,
    help: 'Claims of a type with limits that left due jobs waiting on a limit (global, key, rate, key_rate)',
    labelNames: ['type', 'limit'],
  }),
  makeGaugeProvider({
    name: METRIC.limitWaiting,
    help:
      'Due pending jobs of a type with limits (globalConcurrency, concurrencyPerKey, rateLimit) in the served queues, ' +
      'counted up to 10000 per type: jobs waiting for a slot or a start the limits allow; sampled on an interval',
    labelNames: ['type'],
  }),
];
