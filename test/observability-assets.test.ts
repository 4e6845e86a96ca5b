import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Histogram, type Metric } from 'prom-client';
import { parse } from 'yaml';
import { jobQueueMetricProviders, METRIC } from '@app/job-queue/internal';
import { labelValuesMetric, PROMQL_FUNCTIONS, readPromql } from './support/promql';

const root = join(__dirname, '..');
const dashboard = JSON.parse(readFileSync(join(root, 'docs/grafana/job-queue-dashboard.json'), 'utf8'));
const rules = parse(readFileSync(join(root, 'docs/prometheus/job-queue-alerts.yml'), 'utf8'));

// The metrics as the library declares them (type and labels), built from its own providers.
const declared = new Map<string, Metric<string>>(
  jobQueueMetricProviders.map((p) => {
    const metric = p.useFactory(undefined) as Metric<string> & { name: string };
    return [metric.name, metric];
  }),
);
/** Labels Prometheus adds to every series at scrape time. */
const TARGET_LABELS = ['job', 'instance'];

/** The declared metric a series name belongs to (histograms expose `_bucket`, `_sum` and `_count` series). */
function declaredFor(series: string): { name: string; metric: Metric<string> } | undefined {
  if (declared.has(series))
    return declared.get(series) instanceof Histogram ? undefined : { name: series, metric: declared.get(series)! };
  const base = series.replace(/_(bucket|sum|count)$/, '');
  const metric = declared.get(base);
  return metric instanceof Histogram ? { name: base, metric } : undefined;
}

function labelNames(metric: Metric<string>): string[] {
  return (metric as unknown as { labelNames: string[] }).labelNames;
}

/** Checks one expression; returns the problems found and the declared metrics it reads. */
function check(where: string, expr: string): { problems: string[]; used: string[] } {
  const use = readPromql(expr);
  const problems: string[] = [];
  const used: string[] = [];
  for (const fn of use.functions) if (!PROMQL_FUNCTIONS.has(fn)) problems.push(`${where}: unknown function ${fn}()`);
  if (use.metrics.length === 0) problems.push(`${where}: no metric in ${JSON.stringify(expr)}`);
  for (const series of use.metrics) {
    const found = declaredFor(series);
    if (!found) problems.push(`${where}: ${series} is not a series of a metric in METRIC`);
    else used.push(found.name);
  }
  for (const { metric: series, labels } of use.selectorLabels) {
    const found = declaredFor(series);
    if (!found) continue;
    const allowed = [...labelNames(found.metric), ...TARGET_LABELS, ...(series.endsWith('_bucket') ? ['le'] : [])];
    for (const label of labels) {
      if (!allowed.includes(label)) problems.push(`${where}: ${series} has no label "${label}"`);
    }
  }
  const everyLabel = new Set([...TARGET_LABELS, 'le', ...[...declared.values()].flatMap(labelNames)]);
  for (const label of use.groupingLabels) {
    if (!everyLabel.has(label)) problems.push(`${where}: grouping by unknown label "${label}"`);
  }
  if (use.functions.includes('histogram_quantile') && !use.groupingLabels.includes('le')) {
    problems.push(`${where}: histogram_quantile without "by (le…)"`);
  }
  return { problems, used };
}

describe('observability assets', () => {
  it('the metric list and the providers agree', () => {
    expect([...declared.keys()].sort()).toEqual(Object.values(METRIC).sort());
    for (const name of declared.keys()) expect(name).toMatch(/^job_queue_[a-z_]+$/);
  });

  describe('Grafana dashboard', () => {
    const panels: any[] = dashboard.panels.filter((p: any) => p.type !== 'row');
    const targets: Array<{ where: string; expr: string }> = panels.flatMap((p: any) =>
      (p.targets ?? []).map((t: any) => ({ where: `panel "${p.title}" ${t.refId}`, expr: t.expr })),
    );

    it('uses a Prometheus datasource variable ${DS_PROMETHEUS} for every panel and query', () => {
      const variable = dashboard.templating.list.find((v: any) => v.name === 'DS_PROMETHEUS');
      expect(variable).toMatchObject({ type: 'datasource', query: 'prometheus' });
      for (const p of panels) {
        expect({ panel: p.title, datasource: p.datasource }).toEqual({
          panel: p.title,
          datasource: { type: 'prometheus', uid: '${DS_PROMETHEUS}' },
        });
        for (const t of p.targets) expect(t.datasource?.uid).toBe('${DS_PROMETHEUS}');
      }
      for (const v of dashboard.templating.list.filter((x: any) => x.type === 'query')) {
        expect(v.datasource.uid).toBe('${DS_PROMETHEUS}');
      }
    });

    it('is well formed: unique panel ids and refIds, panels within the 24-column grid', () => {
      expect(typeof dashboard.uid).toBe('string');
      expect(typeof dashboard.title).toBe('string');
      const ids = dashboard.panels.map((p: any) => p.id);
      expect(new Set(ids).size).toBe(ids.length);
      for (const p of dashboard.panels) {
        const { x, w, h } = p.gridPos;
        expect(x >= 0 && w > 0 && h > 0 && x + w <= 24).toBe(true);
      }
      for (const p of panels) {
        expect(p.targets.length).toBeGreaterThan(0);
        const refIds = p.targets.map((t: any) => t.refId);
        expect(new Set(refIds).size).toBe(refIds.length);
      }
    });

    it('queries only metrics, series and labels the library exports', () => {
      const variableQueries = dashboard.templating.list
        .filter((v: any) => v.type === 'query')
        .map((v: any) => ({ where: `variable ${v.name}`, query: v.query?.query ?? v.query }));
      const problems = targets.flatMap(({ where, expr }) => check(where, expr).problems);
      for (const { where, query } of variableQueries) {
        const metric = labelValuesMetric(query);
        if (!metric || !declared.has(metric)) problems.push(`${where}: ${query} reads no metric of METRIC`);
      }
      expect(problems).toEqual([]);
    });

    it('shows every metric of the library', () => {
      const used = new Set(targets.flatMap(({ where, expr }) => check(where, expr).used));
      expect(Object.values(METRIC).filter((m) => !used.has(m))).toEqual([]);
    });

    it('has the panels the runbook refers to', () => {
      const exprsOf = (title: string) => {
        const panel = panels.find((p) => p.title === title);
        expect(panel).toBeDefined();
        return panel.targets.map((t: any) => t.expr).join('\n');
      };
      expect(exprsOf('Throughput by outcome')).toEqual(
        expect.stringMatching(/completed_total[\s\S]*retried_total[\s\S]*dead_total/),
      );
      expect(exprsOf('Wait (created → started) percentiles')).toContain('histogram_quantile(0.99');
      expect(exprsOf('Handler duration percentiles')).toContain('job_queue_job_duration_seconds_bucket');
      expect(exprsOf('Depth by status')).toContain('by (queue, status) (job_queue_queue_depth');
      expect(exprsOf('In flight vs concurrency')).toMatch(/job_queue_jobs_in_flight[\s\S]*job_queue_concurrency/);
      expect(exprsOf('Claim duration percentiles')).toContain('job_queue_claim_duration_seconds_bucket');
      expect(exprsOf('Index entries read per claim')).toContain('job_queue_claim_rows_examined');
      expect(exprsOf('Oldest transaction holding the horizon')).toContain('job_queue_oldest_transaction_age_seconds');
      expect(exprsOf('Dead tuples by table')).toContain('by (table) (job_queue_table_dead_tuples');
      expect(exprsOf('Vacuums and index rebuilds by outcome')).toContain(
        'by (table, outcome) (increase(job_queue_vacuums_total',
      );
      expect(exprsOf('Schedule slots: fired, skipped by overlap, missed')).toMatch(
        /schedule_slots_fired_total[\s\S]*schedule_slots_skipped_total[\s\S]*schedule_slots_missed_total/,
      );
    });
  });

  describe('Prometheus alert rules', () => {
    const all: any[] = rules.groups.flatMap((g: any) => g.rules);

    it('are well formed: named groups, unique alert names, severity, summary and description', () => {
      expect(rules.groups.length).toBeGreaterThan(0);
      for (const g of rules.groups) expect(typeof g.name).toBe('string');
      const names = all.map((r) => r.alert);
      expect(new Set(names).size).toBe(names.length);
      for (const r of all) {
        expect(Object.keys(r).filter((k) => !['alert', 'expr', 'for', 'labels', 'annotations'].includes(k))).toEqual(
          [],
        );
        expect(r.alert).toMatch(/^JobQueue[A-Za-z]+$/);
        expect(typeof r.expr).toBe('string');
        if (r.for !== undefined) expect(r.for).toMatch(/^\d+[smh]$/);
        expect(['info', 'warning', 'critical']).toContain(r.labels?.severity);
        expect(r.annotations.summary).toEqual(expect.any(String));
        expect(r.annotations.description).toEqual(expect.any(String));
      }
    });

    it('query only metrics, series and labels the library exports', () => {
      expect(all.flatMap((r) => check(`alert ${r.alert}`, r.expr).problems)).toEqual([]);
    });

    it('cover dead letters, backlog age, stalls, lease losses, claim errors and the listener', () => {
      const reads = (alert: string) => check(alert, all.find((r) => r.alert === alert).expr).used;
      expect(reads('JobQueueDeadLettersGrowing')).toEqual([METRIC.dead]);
      expect(reads('JobQueueBacklogTooOld')).toEqual([METRIC.oldestPendingAge]);
      expect(reads('JobQueueStalled')).toEqual([METRIC.oldestPendingAge, METRIC.completed]);
      expect(reads('JobQueueLeaseLost')).toEqual([METRIC.leaseLost]);
      expect(reads('JobQueueClaimErrors')).toEqual([METRIC.claimErrors]);
      expect(reads('JobQueueListenerDown')).toEqual([METRIC.listenerConnected, METRIC.concurrency]);
    });

    it('cover the database’s bad days: slow claims, claims reading many rows, long transactions, dead tuples, vacuum denied', () => {
      const reads = (alert: string) => check(alert, all.find((r) => r.alert === alert).expr).used;
      expect(reads('JobQueueClaimSlow')).toEqual([METRIC.claimDuration]);
      expect(reads('JobQueueClaimReadsManyRows')).toEqual([METRIC.claimRowsExamined]);
      expect(reads('JobQueueLongTransaction')).toEqual([METRIC.oldestTransactionAge]);
      expect(reads('JobQueueDeadTuplesHigh')).toEqual([METRIC.deadTuples]);
      expect(reads('JobQueueVacuumDenied')).toEqual([METRIC.vacuums]);
    });
  });

  describe('the PromQL reader the checks rely on', () => {
    it('finds metric names, functions and labels, and ignores strings, variables and ranges', () => {
      const use = readPromql(
        'histogram_quantile(0.99, sum by (le, type) (rate(job_queue_job_wait_seconds_bucket{queue=~"$queue"}[$__rate_interval])))\n' +
          '/ clamp_min(max without (instance) (foo_total offset 5m), 1e-9) unless on (queue) bar',
      );
      expect(use.metrics).toEqual(['job_queue_job_wait_seconds_bucket', 'foo_total', 'bar']);
      expect(use.functions).toEqual(['histogram_quantile', 'sum', 'rate', 'clamp_min', 'max']);
      expect(use.selectorLabels).toEqual([{ metric: 'job_queue_job_wait_seconds_bucket', labels: ['queue'] }]);
      expect(use.groupingLabels).toEqual(['le', 'type', 'instance', 'queue']);
    });

    it('rejects what is not the library’s: a typo, a histogram without a suffix, a label it does not have', () => {
      expect(check('t', 'rate(job_queue_jobs_complete_total[5m])').problems).toEqual([
        't: job_queue_jobs_complete_total is not a series of a metric in METRIC',
      ]);
      expect(check('t', 'rate(job_queue_job_duration_seconds[5m])').problems).toHaveLength(1);
      expect(check('t', 'job_queue_jobs_in_flight{queue="a"}').problems).toEqual([
        't: job_queue_jobs_in_flight has no label "queue"',
      ]);
      expect(check('t', 'rate(job_queue_job_duration_seconds_count{outcome="dead"}[5m])').problems).toEqual([]);
    });
  });
});
