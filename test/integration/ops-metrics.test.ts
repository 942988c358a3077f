import assert from 'node:assert/strict';
import path from 'node:path';
import mysql from 'mysql2/promise';
import { formatMoney, parseMoney } from '../../lib/common/money';
import { testDatabaseUrl } from '../support/mariadb';
import { freePort } from '../support/ports';
import { startProduct, type Product } from '../support/product';
import { startSipp, type SippProcess } from '../support/sipp';
import { adminClient, startAnsweredAndRefused, injectionFile, eventually, metricSum, parseMetrics, readBooks, seedOpsDatabase, type AdminClient } from '../support/ops-product';

const SCENARIOS = path.resolve(__dirname, '../../../scenarios');


describe('Prometheus metrics during a SIPp run', function () {
  this.timeout(90_000);
  let databaseUrl: string;
  let carrier: SippProcess;
  let product: Product;
  let api: AdminClient;

  before(async () => {
    databaseUrl = await testDatabaseUrl('ops_metrics');
    carrier = await startSipp({ scenario: { file: path.join(SCENARIOS, 'uas-answer.xml') }, transport: 'udp', timeoutMs: 85_000 });
    await seedOpsDatabase(databaseUrl, { carrier: carrier.localPort });
    // Off-net calls from the group priced per second (3 free seconds, then 0.001 EUR/s), so short
    // grants and a cut-off within seconds are possible.
    const u = new URL(databaseUrl);
    const conn = await mysql.createConnection({ host: u.hostname, port: Number(u.port), user: 'root', database: u.pathname.slice(1) });
    try {
      await conn.query("UPDATE tariff_steps SET increment_seconds = 1, price_per_increment = '0.001' WHERE tariff_id = 3 AND from_second = 0");
    } finally {
      await conn.end();
    }
    const edgeMetricsPort = await freePort('tcp');
    product = await startProduct({ databaseUrl, config: { prepaid: { grantSeconds: 5, reauthLeadSeconds: 1 }, metrics: { edge: { enabled: true, address: '127.0.0.1', port: edgeMetricsPort } } } });
    api = adminClient(`http://127.0.0.1:${product.adminPort}`, product.adminToken);
  });

  after(async () => {
    await product?.stop();
    await carrier?.stop();
  });

  const scrape = async () => {
    const r = await api.call('GET', '/metrics');
    assert.equal(r.status, 200);
    return parseMetrics(r.text);
  };

  it('counts offered, answered, refused and ended calls, grants, live calls and the edge while calls run', async () => {
    const before = await scrape();
    assert.equal(metricSum(before, 'tollgate_edge_up'), 1, 'the edge counters are reachable');
    const answeredCalls = 10;
    const refusedCalls = 3;
    const { callers, broke } = await startAnsweredAndRefused(product.sipPort, { answered: answeredCalls, refused: refusedCalls, holdMs: 2000 });
    try {
      // Scraped while answered calls are up: live calls, reservations, money reserved, edge dialogs.
      await eventually('live calls, reservations and dialogs on the gauges', async () => {
        const m = await scrape();
        return ['tollgate_calls_live', 'tollgate_reservations_outstanding', 'tollgate_reserved_money'].every((n) => metricSum(m, n) > 0)
          && metricSum(m, 'tollgate_edge_dialogs') > 0;
      }, 15_000, 50);

      const [ok, refused] = await Promise.all([callers.done, broke.done]);
      assert.equal(ok.stats.successful, answeredCalls, ok.stdout.slice(-500));
      assert.equal(refused.stats.successful, refusedCalls, refused.stdout.slice(-500));
    } finally {
      await callers.stop();
      await broke.stop();
    }

    const after = await eventually('every call ended', async () => {
      const m = await scrape();
      return metricSum(m, 'tollgate_calls_live') === 0 && metricSum(m, 'tollgate_reservations_outstanding') === 0 ? m : undefined;
    });
    const moved = (name: string, labels: Record<string, string> = {}) => metricSum(after, name, labels) - metricSum(before, name, labels);
    assert.equal(moved('tollgate_calls_offered_total'), answeredCalls + refusedCalls);
    assert.equal(moved('tollgate_calls_answered_total'), answeredCalls);
    assert.equal(moved('tollgate_calls_refused_total', { reason: 'INSUFFICIENT_FUNDS', status: '402' }), refusedCalls);
    assert.equal(moved('tollgate_calls_ended_total', { disposition: 'answered', cause: 'caller_bye' }), answeredCalls);
    assert.equal(moved('tollgate_calls_ended_total', { disposition: 'refused' }), refusedCalls);
    assert.equal(moved('tollgate_grants_total', { kind: 'first' }), answeredCalls);
    assert.equal(moved('tollgate_grants_total', { kind: 'answer' }), answeredCalls);
    assert.ok(moved('tollgate_billable_seconds_total') >= answeredCalls * 2);
    assert.equal(metricSum(after, 'tollgate_reserved_money'), 0);
    assert.equal(metricSum(after, 'tollgate_settlement_journal_depth'), 0);
    assert.ok(moved('tollgate_db_query_seconds_count') > answeredCalls * 3, 'database queries are timed');
    assert.ok(moved('tollgate_edge_messages_received_total') >= (answeredCalls + refusedCalls) * 2, 'edge counters move');
    assert.ok(moved('tollgate_edge_app_requests_total') >= answeredCalls);

    const books = await readBooks(databaseUrl);
    assert.equal(books.openReservations, 0);
    assert.deepEqual(books.unbalanced, []);
  });

  it('counts extensions of a grant and a cut-off for credit', async () => {
    // Bob left with 0.005 EUR: 5-second grants are extended until the money is gone (3 free
    // seconds and 5 paid), then the call is cut.
    const bob = await api.call('GET', '/accounts/acme-bob');
    const adjust = parseMoney('0.005') - parseMoney(String(bob.json.available));
    assert.equal((await api.call('POST', '/accounts/acme-bob/adjustments', { amount: formatMoney(adjust), key: 'metrics-cutoff' })).status, 201);

    const before = await scrape();
    const caller = await startSipp({
      scenario: { file: path.join(SCENARIOS, 'uac-call-expect-bye.xml') }, target: `127.0.0.1:${product.sipPort}`, transport: 'udp',
      injection: injectionFile([['4930100202', '9030555123']]), calls: 1, timeoutMs: 30_000,
    });
    const result = await caller.done;
    assert.equal(result.stats.successful, 1, `the caller got the BYE of the cut-off\n${product.logs.slice(-12).map((l) => JSON.stringify(l)).join('\n')}`);
    const after = await eventually('the call ended', async () => {
      const m = await scrape();
      return metricSum(m, 'tollgate_calls_live') === 0 ? m : undefined;
    });
    const moved = (name: string, labels: Record<string, string> = {}) => metricSum(after, name, labels) - metricSum(before, name, labels);
    assert.equal(moved('tollgate_credit_cutoffs_total'), 1);
    assert.equal(moved('tollgate_calls_ended_total', { cause: 'credit_exhausted' }), 1);
    assert.ok(moved('tollgate_grants_total', { kind: 'extension' }) >= 1, 'extensions counted');
    assert.equal(moved('tollgate_grants_total', { kind: 'extension', final: 'true' }) + moved('tollgate_grants_total', { kind: 'answer', final: 'true' }), 1, 'one final grant');
    assert.ok(moved('tollgate_low_balance_total') >= 1, 'Bob went below his low-balance threshold');
    const books = await readBooks(databaseUrl);
    assert.deepEqual(books.unbalanced, []);
    assert.equal((await api.call('GET', '/accounts/acme-bob')).json.available, '0.000000', 'the cut-off used exactly the money there was');
  });
});
