import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TollgateMetrics } from '../../../app/metrics';

const MONITORING = path.resolve(__dirname, '../../../../config/monitoring');
const ALERTS = path.join(MONITORING, 'tollgate-alerts.yml');

function promtool(args: string[], cwd?: string): { status: number | null; output: string } {
  const r = spawnSync('promtool', args, { cwd, encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.error, undefined, 'promtool runs (Debian package prometheus; the test harness installs it)');
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

/** Metric families the application exposes (process metrics included), with histogram series names. */
async function exposedSeries(): Promise<Set<string>> {
  const text = await new TollgateMetrics().text();
  const names = new Set<string>(['up']);
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    names.add(m[1]!);
    if (m[2] === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(m[1]! + s);
  }
  return names;
}

function metricNames(expr: string): string[] {
  // Label names and values, functions and keywords are not metric names: only tollgate_* and up.
  return [...expr.replace(/\{[^}]*\}/g, '').matchAll(/\b(tollgate_[a-z0-9_]+|up)\b/g)].map((m) => m[1]!);
}

describe('monitoring artefacts (config/monitoring)', () => {
  it('the alert rules pass `promtool check rules`', () => {
    const r = promtool(['check', 'rules', ALERTS]);
    assert.equal(r.status, 0, r.output);
    assert.match(r.output, /SUCCESS: \d+ rules found/);
  });

  it('the example scrape config passes `promtool check config` with its rules', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-prom-'));
    const token = path.join(dir, 'token');
    fs.writeFileSync(token, 'secret\n');
    fs.copyFileSync(ALERTS, path.join(dir, 'tollgate-alerts.yml'));
    const config = fs.readFileSync(path.join(MONITORING, 'prometheus.example.yml'), 'utf8');
    assert.match(config, /credentials_file: \/etc\/prometheus\/tollgate-admin-token/);
    fs.writeFileSync(path.join(dir, 'prometheus.yml'), config.replace('/etc/prometheus/tollgate-admin-token', token));
    const r = promtool(['check', 'config', 'prometheus.yml'], dir);
    assert.equal(r.status, 0, r.output);
  });

  it('the alerts fire on what they watch: a journal backlog, a trunk with a low ASR (promtool test rules)', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-rules-'));
    const tests = `rule_files:
  - ${JSON.stringify(ALERTS)}
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'tollgate_settlement_journal_depth{instance="a:8088",job="tollgate"}'
        values: '0 3 3 3 3 3 3 3 3'
      - series: 'tollgate_trunk_calls_total{instance="a:8088",job="tollgate",side="egress",trunk="carrier",disposition="answered"}'
        values: '0+1x40'
      - series: 'tollgate_trunk_calls_total{instance="a:8088",job="tollgate",side="egress",trunk="carrier",disposition="busy"}'
        values: '0+9x40'
      - series: 'tollgate_trunk_calls_total{instance="a:8088",job="tollgate",side="egress",trunk="good",disposition="answered"}'
        values: '0+9x40'
    alert_rule_test:
      - eval_time: 8m
        alertname: TollgateSettlementsJournalled
        exp_alerts:
          - exp_labels: { severity: page, instance: "a:8088", job: tollgate }
            exp_annotations:
              summary: "3 settlement(s) of a:8088 wait in the local journal"
              description: "The database does not take settlements; they are replayed when it does. Check the database."
      - eval_time: 3m
        alertname: TollgateSettlementsJournalled
        exp_alerts: []
      - eval_time: 38m
        alertname: TollgateTrunkLowASR
        exp_alerts:
          - exp_labels: { severity: ticket, trunk: carrier }
            exp_annotations:
              summary: "ASR on trunk carrier is 10%"
`;
    fs.writeFileSync(path.join(dir, 'tests.yml'), tests);
    const r = promtool(['test', 'rules', 'tests.yml'], dir);
    assert.equal(r.status, 0, r.output);
  });

  it('the Grafana dashboard is valid JSON whose every query and alert names only series the application exposes', async () => {
    const dash = JSON.parse(fs.readFileSync(path.join(MONITORING, 'tollgate-dashboard.json'), 'utf8')) as {
      uid: string; panels: Array<{ id: number; type: string; targets?: Array<{ expr: string; refId: string }> }>; templating: { list: Array<{ definition: string }> };
    };
    assert.equal(dash.uid, 'tollgate-overview');
    const ids = dash.panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
    const exprs = dash.panels.flatMap((p) => (p.type === 'row' ? [] : (assert.ok(p.targets?.length, `panel ${p.id} has a query`), p.targets!.map((t) => t.expr))));
    exprs.push(...dash.templating.list.map((v) => v.definition));
    const alerts = fs.readFileSync(ALERTS, 'utf8');
    exprs.push(...[...alerts.matchAll(/expr: (\|\n(?:\s{10}.*\n)+|.*)/g)].map((m) => m[1]!));
    assert.ok(exprs.length > 40, `queries: ${exprs.length}`);
    const known = await exposedSeries();
    const unknown = [...new Set(exprs.flatMap(metricNames))].filter((n) => !known.has(n));
    assert.deepEqual(unknown, [], 'series named in the dashboard or the alerts that the application does not expose');
  });
});
