import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { createMetrics } from '../../src/ops/metrics.js';

/**
 * The Grafana dashboard, the Prometheus alert rules and the scrape config must only use metrics the pool
 * registers. docker/prometheus/alerts.yml is written in a small YAML subset (every `expr:` is one line, plain
 * or quoted; no block scalars), read here line by line since no YAML package is installed. A block scalar
 * (`expr: |`) is still followed so a multi-line expression cannot slip past the check.
 */

const docker = (file: string) => readFileSync(new URL(`../../docker/${file}`, import.meta.url), 'utf8');

const HISTOGRAM_SUFFIXES = ['_bucket', '_sum', '_count'];
const METRIC_REFERENCE = /(?<![A-Za-z0-9_:])ltcpool_[A-Za-z0-9_:]*/g;

/** Metric names referenced by PromQL text, with histogram series suffixes resolved against the registry. */
function referencedMetrics(expressions: string[]): Set<string> {
  const names = new Set<string>();
  for (const expr of expressions) for (const match of expr.matchAll(METRIC_REFERENCE)) names.add(match[0]);
  return names;
}

/** Names in `used` that the registry does not serve (a histogram's _bucket/_sum/_count count as served). */
function unknownMetrics(used: Iterable<string>, registered: Map<string, string>): string[] {
  const unknown: string[] = [];
  for (const name of used) {
    if (registered.has(name)) continue;
    const suffix = HISTOGRAM_SUFFIXES.find((s) => name.endsWith(s));
    const base = suffix ? name.slice(0, -suffix.length) : undefined;
    const baseType = base ? registered.get(base) : undefined;
    if (baseType === 'histogram' || baseType === 'summary') continue;
    unknown.push(name);
  }
  return unknown.sort();
}

// PromQL functions and aggregations (https://prometheus.io/docs/prometheus/latest/querying/functions/) and the
// keywords that take a parenthesised label list. Anything else called like a function is a typo Prometheus refuses.
const PROMQL_CALLABLE = new Set([
  'sum', 'min', 'max', 'avg', 'count', 'stddev', 'stdvar', 'topk', 'bottomk', 'quantile', 'count_values', 'group',
  'rate', 'irate', 'increase', 'delta', 'idelta', 'deriv', 'predict_linear', 'changes', 'resets', 'histogram_quantile',
  'abs', 'absent', 'absent_over_time', 'ceil', 'floor', 'round', 'clamp', 'clamp_min', 'clamp_max', 'exp', 'ln', 'log2',
  'log10', 'sqrt', 'sgn', 'time', 'timestamp', 'vector', 'scalar', 'sort', 'sort_desc', 'label_replace', 'label_join',
  'avg_over_time', 'min_over_time', 'max_over_time', 'sum_over_time', 'count_over_time', 'last_over_time',
  'quantile_over_time', 'stddev_over_time', 'present_over_time', 'day_of_week', 'hour', 'minute', 'month', 'year',
  'by', 'without', 'on', 'ignoring', 'group_left', 'group_right',
]);

/** Problems a reader can see without Prometheus: unknown functions, unbalanced brackets, a quantile that is not a number. */
function promqlProblems(expr: string): string[] {
  const problems: string[] = [];
  const bare = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""'); // label values may hold anything
  for (const match of bare.matchAll(/([A-Za-z_][A-Za-z0-9_]*)\s*\(/g)) {
    if (!PROMQL_CALLABLE.has(match[1])) problems.push(`unknown function ${match[1]}()`);
  }
  for (const [open, close] of [['(', ')'], ['[', ']'], ['{', '}']]) {
    let depth = 0;
    for (const ch of bare) {
      if (ch === open) depth++;
      else if (ch === close && --depth < 0) break;
    }
    if (depth !== 0) problems.push(`unbalanced ${open}${close}`);
  }
  for (const match of bare.matchAll(/histogram_quantile\s*\(\s*([^,]*),/g)) {
    if (!/^(0(\.\d+)?|1(\.0+)?)$/.test(match[1].trim())) problems.push(`histogram_quantile needs a quantile in 0..1, got ${match[1].trim()}`);
  }
  return problems;
}

/** Every string under a key named expr or query, anywhere in a Grafana dashboard (panels, rows, templating, annotations). */
function dashboardExpressions(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) {
    for (const item of node) dashboardExpressions(item, out);
  } else if (node && typeof node === 'object') {
    for (const [key, value] of Object.entries(node)) {
      if ((key === 'expr' || key === 'query') && typeof value === 'string') out.push(value);
      else dashboardExpressions(value, out);
    }
  }
  return out;
}

/** The `expr:` values of a rules file in the documented YAML subset. */
function alertExpressions(yaml: string): string[] {
  const lines = yaml.split('\n');
  const exprs: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const match = /^(\s*)(?:-\s+)?expr:\s*(.*)$/.exec(lines[i]);
    if (!match) continue;
    let value = match[2].trim();
    if (value === '' || /^[|>][-+]?$/.test(value)) {
      // Block scalar (or value on following lines): take every line indented deeper than the key.
      const indent = match[1].length;
      const block: string[] = [];
      while (i + 1 < lines.length && (lines[i + 1].trim() === '' || lines[i + 1].search(/\S/) > indent)) block.push(lines[++i].trim());
      value = block.join(' ').trim();
    } else if ((value.startsWith('"') && value.endsWith('"')) || (value.startsWith("'") && value.endsWith("'"))) {
      value = value.slice(1, -1);
    }
    exprs.push(value);
  }
  return exprs;
}

async function registeredMetrics(): Promise<Map<string, string>> {
  const { registry } = createMetrics();
  return new Map((await registry.getMetricsAsJSON()).map((m) => [m.name, String(m.type)]));
}

const dashboard = JSON.parse(docker('grafana/dashboards/ltcpool.json'));
const alertsYaml = docker('prometheus/alerts.yml');
const prometheusYaml = docker('prometheus/prometheus.yml');
const composeYaml = docker('compose.yml');

describe('metric references in docker/ (dashboard, alerts)', () => {
  it('finds metric names, and resolves histogram suffixes only for histograms', () => {
    const registered = new Map([['ltcpool_a_seconds', 'histogram'], ['ltcpool_b_total', 'counter']]);
    const used = referencedMetrics(['histogram_quantile(0.9, sum by (le) (rate(ltcpool_a_seconds_bucket[5m])))', 'rate(ltcpool_b_total_count[5m]) + xltcpool_nope', 'ltcpool_Made_Up']);
    expect([...used].sort()).toEqual(['ltcpool_Made_Up', 'ltcpool_a_seconds_bucket', 'ltcpool_b_total_count']);
    expect(unknownMetrics(used, registered)).toEqual(['ltcpool_Made_Up', 'ltcpool_b_total_count']);
  });

  it('reads single-line, quoted and block-scalar expr values from the YAML subset', () => {
    const yaml = ['rules:', '  - alert: A', '    expr: up == 0', "  - alert: B", "    expr: 'ltcpool_x > 1'", '  - alert: C', '    expr: |', '      sum(ltcpool_y)', '        > 2', '    for: 1m'].join('\n');
    expect(alertExpressions(yaml)).toEqual(['up == 0', 'ltcpool_x > 1', 'sum(ltcpool_y) > 2']);
  });

  it('spots PromQL a reader can tell is broken', () => {
    expect(promqlProblems('histogram_quantile(0.99, sum by (le) (rate(ltcpool_a_bucket[5m])))')).toEqual([]);
    expect(promqlProblems('sum(rate(ltcpool_x_total{reason=~"a(b"}[$__rate_interval]))')).toEqual([]);
    expect(promqlProblems('histogram_0.5uantile(q, sum by (le) (rate(ltcpool_a_bucket[5m])))')).toEqual(['unknown function uantile()']);
    expect(promqlProblems('histogram_quantile(q, x)')).toEqual(['histogram_quantile needs a quantile in 0..1, got q']);
    expect(promqlProblems('sum(rate(ltcpool_x[5m])')).toEqual(['unbalanced ()']);
  });

  it('dashboard and alert expressions are well-formed PromQL, as far as can be read', () => {
    const exprs = [...dashboardExpressions(dashboard), ...alertExpressions(alertsYaml)];
    expect(exprs.flatMap((e) => promqlProblems(e).map((p) => `${p} in: ${e}`))).toEqual([]);
  });

  it('dashboard uses only registered metrics', async () => {
    const exprs = dashboardExpressions(dashboard);
    expect(exprs.length).toBeGreaterThan(30);
    expect(unknownMetrics(referencedMetrics(exprs), await registeredMetrics())).toEqual([]);
  });

  it('alert rules use only registered metrics', async () => {
    const exprs = alertExpressions(alertsYaml);
    expect(exprs.length).toBe((alertsYaml.match(/^\s*- alert:/gm) ?? []).length);
    expect(unknownMetrics(referencedMetrics(exprs), await registeredMetrics())).toEqual([]);
  });

  it('dashboard shows every pool metric (all but the default process metrics)', async () => {
    const used = referencedMetrics(dashboardExpressions(dashboard));
    const usedBases = new Set([...used].map((n) => n.replace(/_(bucket|sum|count)$/, '')));
    const poolMetrics = [...(await registeredMetrics()).keys()].filter((n) => !/^ltcpool_(process|nodejs)_/.test(n));
    expect(poolMetrics.filter((n) => !used.has(n) && !usedBases.has(n))).toEqual([]);
  });

  it('has the required alerts, each with an expression and a severity', () => {
    const alerts = [...alertsYaml.matchAll(/^\s*- alert:\s*(\S+)/gm)].map((m) => m[1]);
    expect(alerts).toEqual(expect.arrayContaining(['LtcpoolDown', 'LtcpoolNoTemplate', 'LtcpoolRejectRatioHigh', 'LtcpoolBlockRejected', 'LtcpoolPayoutsFailing', 'LtcpoolWalletShortfall']));
    expect((alertsYaml.match(/^\s*severity:\s*(critical|warning)\s*$/gm) ?? []).length).toBe(alerts.length);
    const byAlert = new Map(alerts.map((name, i) => [name, alertExpressions(alertsYaml)[i]]));
    expect(byAlert.get('LtcpoolDown')).toContain('up{job="ltcpool"}');
    expect(byAlert.get('LtcpoolNoTemplate')).toContain('ltcpool_template_age_seconds');
    expect(byAlert.get('LtcpoolBlockRejected')).toContain('status="rejected"');
  });

  it('dashboard is a provisionable Grafana dashboard with unique panel ids on the provisioned datasource', () => {
    expect(dashboard.uid).toMatch(/^[a-zA-Z0-9_-]{1,40}$/);
    const panels: { id: number; type: string; datasource?: { uid: string } }[] = dashboard.panels;
    expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length);
    const datasourceYaml = docker('grafana/provisioning/datasources/prometheus.yml');
    const uid = /^\s*uid:\s*(\S+)/m.exec(datasourceYaml)?.[1];
    for (const panel of panels.filter((p) => p.type !== 'row')) expect(panel.datasource?.uid, String(panel.id)).toBe(uid);
    const provider = docker('grafana/provisioning/dashboards/ltcpool.yml');
    const dashboardsDir = /^\s*path:\s*(\S+)/m.exec(provider)?.[1];
    expect(composeYaml).toContain(`./grafana/dashboards:${dashboardsDir}`);
  });
});

describe('prometheus scrape config', () => {
  // as compose reads it: the pool replicas take LTCPOOL_HTTP_PORT from a merged anchor
  const services = (parse(composeYaml, { merge: true }) as { services: Record<string, { environment?: Record<string, unknown> }> }).services;
  const httpPort = (service: string) => String(services[service]?.environment?.LTCPOOL_HTTP_PORT);

  it.each([['pool1', 'pool2', 'pool3'], ['payouts']])('scrapes the %s service(s) on their LTCPOOL_HTTP_PORT at /metrics', (...names) => {
    const targets = names.map((service) => {
      const port = httpPort(service);
      expect(port, `${service} sets LTCPOOL_HTTP_PORT in compose.yml`).toMatch(/^\d+$/);
      return `"${service}:${port}"`;
    });
    expect(prometheusYaml).toMatch(new RegExp(`targets:\\s*\\[\\s*${targets.join(',\\s*')}\\s*\\]`));
    expect(prometheusYaml).not.toMatch(/metrics_path:\s*(?!\/metrics\s*$)\S+/m);
  });

  it('the pool job is named as the LtcpoolDown alert expects', () => {
    expect(prometheusYaml).toMatch(/job_name:\s*ltcpool\s*\n(?:\s+.*\n)*?\s+- targets: \["pool1:\d+"/);
  });

  it('loads the alert rules file that compose mounts', () => {
    const ruleFile = /rule_files:\s*\n\s*-\s*(\S+)/.exec(prometheusYaml)?.[1];
    expect(composeYaml).toContain(`./prometheus/alerts.yml:${ruleFile}:ro`);
  });

  it('publishes everything but Stratum and litecoind P2P on the host loopback only', () => {
    const published = [...composeYaml.matchAll(/^\s+- "([^"]+:\d+)"/gm)].map((m) => m[1]);
    expect(published.length).toBeGreaterThan(3);
    for (const mapping of published) {
      if (mapping.includes('LTCPOOL_STRATUM_PORT') || mapping === '9333:9333') continue;
      expect(mapping).toMatch(/^127\.0\.0\.1:/);
    }
  });
});
