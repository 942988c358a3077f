import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { testDatabaseUrl } from '../support/mariadb';
import { EDGE_METRICS } from '../../app/edge-metrics';
import { freePort } from '../support/ports';
import { startProduct, type Product } from '../support/product';
import { startSipp, type SippProcess } from '../support/sipp';
import { adminClient, startAnsweredAndRefused, eventually, metricSum, parseMetrics, seedOpsDatabase, type AdminClient } from '../support/ops-product';

const SCENARIOS = path.resolve(__dirname, '../../../scenarios');

describe('application metrics pass promtool and carry setup time, per-trunk ASR/ACD, cut-offs and latencies', function () {
  this.timeout(90_000);
  let carrier: SippProcess;
  let product: Product;
  let api: AdminClient;
  let edgeMetricsPort: number;

  before(async () => {
    const databaseUrl = await testDatabaseUrl('ops_promtool');
    carrier = await startSipp({ scenario: { file: path.join(SCENARIOS, 'uas-answer.xml') }, transport: 'udp', timeoutMs: 85_000 });
    await seedOpsDatabase(databaseUrl, { carrier: carrier.localPort });
    edgeMetricsPort = await freePort('tcp');
    product = await startProduct({ databaseUrl, config: { metrics: { edge: { enabled: true, address: '127.0.0.1', port: edgeMetricsPort } } } });
    api = adminClient(`http://127.0.0.1:${product.adminPort}`, product.adminToken);
  });

  after(async () => {
    await product?.stop();
    await carrier?.stop();
  });

  it('after answered and refused calls, `promtool check metrics` finds nothing wrong in GET /metrics, and the new series add up', async () => {
    const answeredCalls = 4;
    const refusedCalls = 2;
    const { callers, broke } = await startAnsweredAndRefused(product.sipPort, { answered: answeredCalls, refused: refusedCalls, holdMs: 1000 });
    try {
      const [ok, refused] = await Promise.all([callers.done, broke.done]);
      assert.equal(ok.stats.successful, answeredCalls, ok.stdout.slice(-500));
      assert.equal(refused.stats.successful, refusedCalls, refused.stdout.slice(-500));
    } finally {
      await callers.stop();
      await broke.stop();
    }
    const text = await eventually('every call ended and counted', async () => {
      const r = await api.call('GET', '/metrics');
      const m = parseMetrics(r.text);
      return metricSum(m, 'tollgate_calls_live') === 0 && metricSum(m, 'tollgate_trunk_calls_total', { side: 'ingress' }) === answeredCalls + refusedCalls ? r.text : undefined;
    });

    const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 20_000 });
    assert.equal(check.error, undefined, 'promtool runs (Debian package prometheus; the test harness installs it)');
    assert.equal(check.status, 0, `promtool check metrics:\n${check.stdout}${check.stderr}`);
    assert.equal(`${check.stdout}${check.stderr}`.trim(), '', 'no lint remark either');

    const m = parseMetrics(text);
    assert.equal(metricSum(m, 'tollgate_edge_up'), 1, 'the edge counters were part of the scrape');
    assert.equal(metricSum(m, 'tollgate_call_setup_seconds_count', { outcome: 'admitted' }), answeredCalls);
    assert.equal(metricSum(m, 'tollgate_call_setup_seconds_count', { outcome: 'refused' }), refusedCalls);
    assert.ok(metricSum(m, 'tollgate_call_setup_seconds_sum') > 0);
    assert.equal(metricSum(m, 'tollgate_trunk_calls_total', { side: 'egress', trunk: 'carrier', disposition: 'answered' }), answeredCalls, 'ASR numerator');
    assert.equal(metricSum(m, 'tollgate_trunk_calls_total', { side: 'egress', trunk: 'carrier' }), answeredCalls, 'ASR denominator');
    const acd = metricSum(m, 'tollgate_call_duration_seconds_sum', { trunk: 'carrier' }) / metricSum(m, 'tollgate_call_duration_seconds_count', { trunk: 'carrier' });
    assert.ok(acd >= 0.9 && acd < 10, `ACD ${acd} s for calls of about 1 s`);
    assert.equal(metricSum(m, 'tollgate_call_answer_delay_seconds_count', { trunk: 'carrier' }), answeredCalls);
    assert.equal(metricSum(m, 'tollgate_credit_control_seconds_count', { operation: 'authorise', outcome: 'ok' }), answeredCalls);
    assert.equal(metricSum(m, 'tollgate_credit_control_seconds_count', { operation: 'authorise', outcome: 'refused' }), refusedCalls);
    assert.equal(metricSum(m, 'tollgate_credit_control_seconds_count', { operation: 'settle' }), answeredCalls);
    assert.ok(metricSum(m, 'tollgate_db_query_seconds_count') > answeredCalls * 3);
    assert.match(text, /^tollgate_build_info\{version="\d+\.\d+\.\d+",node="v\d+[^"]*"\} 1$/m);
     assert.ok(metricSum(m, 'tollgate_edge_messages_received_total') >= (answeredCalls + refusedCalls) * 2, 'edge metrics republished by name');
    assert.ok(metricSum(m, 'tollgate_edge_bytes_received_total') > 0);
  });

  it("the edge process's own /metrics, built with prom-client, passes promtool: counters typed counter, levels gauge, each with HELP, one per counter the edge keeps", async () => {
    const text = await (await fetch(`http://127.0.0.1:${edgeMetricsPort}/metrics`)).text();
    const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 20_000 });
    assert.equal(check.status, 0, `promtool check metrics:\n${check.stdout}${check.stderr}`);
    assert.equal(`${check.stdout}${check.stderr}`.trim(), '', 'no lint remark either');
    for (const spec of EDGE_METRICS) {
      assert.match(text, new RegExp(`^# HELP ${spec.name} \\S`, 'm'), spec.name);
      assert.match(text, new RegExp(`^# TYPE ${spec.name} ${spec.type}$`, 'm'), spec.name);
    }
    const m = parseMetrics(text);
    assert.ok(metricSum(m, 'tollgate_edge_messages_received_total') > 0);
    assert.ok(metricSum(m, 'tollgate_edge_bytes_sent_total') > 0);
    const counters = await (await fetch(`http://127.0.0.1:${edgeMetricsPort}/counters`)).json() as Record<string, number>;
    assert.deepEqual(Object.keys(counters).filter((k) => !EDGE_METRICS.some((s) => s.key === k)), [], 'edge counters with no metric');
  });

  it("the edge's /metrics also has the edge process's own metrics (event-loop lag, GC pauses, heap after full collections), measured in the edge process", async () => {
    const edgePid = Number((await product.waitForLog((l) => l.message === 'process started' && l.process === 'edge')).pid);
    assert.ok(edgePid > 0, 'the supervisor logged the edge pid');
    const text = await (await fetch(`http://127.0.0.1:${edgeMetricsPort}/metrics`)).text();
    const vmRssBytes = Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${edgePid}/status`, 'utf8'))?.[1]) * 1024;
    for (const [family, type] of [
      ['tollgate_process_nodejs_eventloop_lag_p99_seconds', 'gauge'], ['tollgate_process_nodejs_gc_duration_seconds', 'histogram'],
      ['tollgate_process_heap_used_after_full_gc_bytes', 'gauge'], ['tollgate_process_process_resident_memory_bytes', 'gauge'], ['tollgate_process_process_cpu_seconds_total', 'counter'],
    ] as const) {
      assert.match(text, new RegExp(`^# TYPE ${family} ${type}$`, 'm'), family);
    }
    const m = parseMetrics(text);
    // The edge's own figure, not the application's: its RSS is the edge process's (read from /proc just after).
    const rss = metricSum(m, 'tollgate_process_process_resident_memory_bytes');
    assert.ok(Math.abs(rss - vmRssBytes) < vmRssBytes * 0.1, `edge RSS on its /metrics ${rss} B, /proc/${edgePid} ${vmRssBytes} B`);
    assert.ok(metricSum(m, 'tollgate_process_process_cpu_seconds_total') > 0);
  });
});
