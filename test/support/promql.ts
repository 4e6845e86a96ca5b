/**
 * Just enough PromQL reading to check dashboards and alert rules against the library's metric list: which metric
 * names an expression selects, which labels its selectors match on, and which functions it calls. Not a parser:
 * it relies on the expressions being ordinary (no metric names inside strings, no `__name__` matchers).
 */

/** PromQL functions and aggregations the assets may use; anything else called like a function is a typo. */
export const PROMQL_FUNCTIONS = new Set([
  'sum',
  'min',
  'max',
  'avg',
  'count',
  'topk',
  'bottomk',
  'quantile',
  'group',
  'rate',
  'irate',
  'increase',
  'delta',
  'idelta',
  'deriv',
  'resets',
  'changes',
  'histogram_quantile',
  'clamp_min',
  'clamp_max',
  'abs',
  'absent',
  'absent_over_time',
  'vector',
  'scalar',
  'time',
  'min_over_time',
  'max_over_time',
  'avg_over_time',
  'sum_over_time',
  'count_over_time',
  'last_over_time',
  'label_replace',
  'timestamp',
]);

const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan']);
const GROUPING = /\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g;

export interface PromqlUse {
  metrics: string[];
  functions: string[];
  /** Label names matched in each metric's selectors (`metric{label="…"}`). */
  selectorLabels: Array<{ metric: string; labels: string[] }>;
  /** Label names of `by (…)`, `on (…)` and the like. */
  groupingLabels: string[];
}

export function readPromql(expr: string): PromqlUse {
  const selectorLabels: PromqlUse['selectorLabels'] = [];
  const groupingLabels: string[] = [];
  let text = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""') // string literals (label values, regexes)
    .replace(/\$\{[^}]*\}|\$\w+/g, '1m'); // Grafana variables ($__rate_interval, ${DS_PROMETHEUS})
  // Selectors: record the labels each metric matches on, then drop the braces.
  text = text.replace(/([A-Za-z_:][\w:]*)?\s*\{([^}]*)\}/g, (_, metric: string | undefined, body: string) => {
    const labels = [...body.matchAll(/([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)/g)].map((m) => m[1]);
    if (metric) selectorLabels.push({ metric, labels });
    return metric ?? '';
  });
  text = text.replace(/\[[^\]]*\]/g, ''); // ranges and subqueries
  text = text.replace(GROUPING, (_, body: string) => {
    groupingLabels.push(
      ...body
        .split(',')
        .map((l) => l.trim())
        .filter(Boolean),
    );
    return '';
  });
  const metrics: string[] = [];
  const functions: string[] = [];
  for (const m of text.matchAll(/(?<![\w.:])([A-Za-z_:][\w:]*)(\s*\()?/g)) {
    const [, name, call] = m;
    if (call) functions.push(name);
    else if (!KEYWORDS.has(name.toLowerCase())) metrics.push(name);
  }
  return { metrics, functions, selectorLabels, groupingLabels };
}

/** The metric a Grafana `label_values(metric, label)` variable query reads. */
export function labelValuesMetric(query: string): string | undefined {
  return /^\s*label_values\(\s*([A-Za-z_:][\w:]*)\s*,\s*\w+\s*\)\s*$/.exec(query)?.[1];
}
