import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import mysql from 'mysql2/promise';
import { testDatabaseUrl } from '../support/mariadb';
import { startProduct, type Product } from '../support/product';
import { startSipp, type SippProcess } from '../support/sipp';
import { adminClient, ALICE, injectionFile, eventually, readBooks, seedOpsDatabase, type AdminClient } from '../support/ops-product';
import { EXIT_REFUSED } from '../../app/cli/vpn';
const CLI = path.resolve(__dirname, '../../app/cli.js');
const SCENARIOS = path.resolve(__dirname, '../../../scenarios');


function cliJson(product: Product, args: string[]): unknown {
  const env: NodeJS.ProcessEnv = { ...process.env, TOLLGATE_CONFIG: product.configFile };
  delete env.TOLLGATE_TEST_MYSQL_URL;
  const r = spawnSync(process.execPath, [CLI, ...args, '--json'], { env, encoding: 'utf8', timeout: 30_000 });
  // A dry run that finds the call refused prints its answer and exits EXIT_REFUSED.
  assert.ok(r.status === 0 || (args[1] === 'resolve' && r.status === EXIT_REFUSED), r.stderr);
  return JSON.parse(r.stdout);
}

describe('admin API of a running product', function () {
  this.timeout(90_000);
  let databaseUrl: string;
  let carrier: SippProcess;
  let product: Product;
  let api: AdminClient;

  before(async () => {
    databaseUrl = await testDatabaseUrl('ops_admin');
    carrier = await startSipp({ scenario: { file: path.join(SCENARIOS, 'uas-answer.xml') }, transport: 'udp', timeoutMs: 85_000 });
    await seedOpsDatabase(databaseUrl, { carrier: carrier.localPort });
    // Long reload intervals: POST /reload is what picks the edits up here.
    product = await startProduct({ databaseUrl, config: { rating: { reloadSeconds: 3600 }, vpn: { reloadSeconds: 3600 } } });
    api = adminClient(`http://127.0.0.1:${product.adminPort}`, product.adminToken);
  });

  after(async () => {
    await product?.stop();
    await carrier?.stop();
  });

  it('serves its OpenAPI document, and every other route refuses a missing or wrong token with 401', async () => {
    const doc = await api.call('GET', '/openapi.json', undefined, null);
    assert.equal(doc.status, 200);
    assert.equal(doc.json.openapi, '3.1.0');
    const paths = doc.json.paths as Record<string, Record<string, { security?: unknown[] }>>;
    const guarded = Object.entries(paths).flatMap(([p, ops]) => Object.entries(ops).filter(([, op]) => !op.security).map(([m]) => [m.toUpperCase(), p.replace(/\{(\w+)\}/g, 'x1')] as const));
    assert.ok(guarded.length >= 13, `guarded routes: ${guarded.length}`);
    for (const [method, p] of guarded) {
      for (const token of [null, 'wrong-token']) {
        const r = await api.call(method, p, method === 'POST' || method === 'PATCH' ? {} : undefined, token);
        assert.equal(r.status, 401, `${method} ${p} with token ${token}: ${r.status} ${r.text}`);
        assert.equal(r.json.error, 'UNAUTHORIZED');
      }
    }
  });

  it('serves Swagger UI for its document without a token', async () => {
    const page = await fetch(`http://127.0.0.1:${product.adminPort}/docs/`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /swagger-ui/);
    const doc = await api.call('GET', '/docs/json', undefined, null);
    assert.deepEqual(doc.json, (await api.call('GET', '/openapi.json', undefined, null)).json);
  });

  it('refuses a body that is not JSON with 415 and broken JSON with 400, in its own error codes', async () => {
    for (const [type, body, status, error] of [['text/plain', 'hello', 415, 'UNSUPPORTED_MEDIA_TYPE'], ['application/json', '{"code":', 400, 'BAD_REQUEST'], ['application/json', '', 400, 'BAD_REQUEST']] as const) {
      const res = await fetch(`http://127.0.0.1:${product.adminPort}/accounts`, { method: 'POST', headers: { authorization: `Bearer ${product.adminToken}`, 'content-type': type }, body });
      const text = await res.text();
      assert.equal(res.status, status, text);
      assert.equal((JSON.parse(text) as { error: string }).error, error);
      assert.doesNotMatch(text, /FST_/);
    }
  });

  it('reports health and readiness without a token', async () => {
    const health = await api.call('GET', '/health', undefined, null);
    assert.equal(health.status, 200);
    assert.equal(health.json.status, 'ok');
    const ready = await api.call('GET', '/ready', undefined, null);
    assert.deepEqual({ status: ready.status, ...ready.json }, { status: 200, ready: true, database: 'up', sip: 'connected', draining: false });
  });

  it('creates, shows, changes, tops up (idempotently), adjusts and lists the ledger of an account', async () => {
    const created = await api.call('POST', '/accounts', { code: 'portal-1', currency: 'EUR', lowBalanceThreshold: '2.00', maxCalls: 3 });
    assert.equal(created.status, 201, created.text);
    assert.equal(created.json.balance, '0.000000');
    const id = created.json.id as number;

    const top = await api.call('POST', '/accounts/portal-1/topups', { amount: '12.50', key: 'pay-771', note: 'card' });
    assert.equal(top.status, 201, top.text);
    assert.equal(top.json.balanceAfter, '12.500000');
    const replay = await api.call('POST', `/accounts/${id}/topups`, { amount: '12.50', key: 'pay-771' });
    assert.equal(replay.status, 200);
    assert.equal(replay.json.id, top.json.id, 'a replay returns the first entry');
    const conflict = await api.call('POST', `/accounts/${id}/topups`, { amount: '99.00', key: 'pay-771' });
    assert.equal(conflict.status, 409);
    assert.equal(conflict.json.error, 'IDEMPOTENCY_CONFLICT');

    const adj = await api.call('POST', '/accounts/portal-1/adjustments', { amount: '-0.500001', key: 'fix-1', note: 'goodwill reversal' });
    assert.equal(adj.status, 201, adj.text);
    assert.equal(adj.json.balanceAfter, '11.999999');
    const overdraw = await api.call('POST', '/accounts/portal-1/adjustments', { amount: '-100', key: 'fix-2' });
    assert.equal(overdraw.status, 409);
    assert.equal(overdraw.json.error, 'INSUFFICIENT_FUNDS');

    const patched = await api.call('PATCH', '/accounts/portal-1', { status: 'suspended', maxCalls: null });
    assert.equal(patched.status, 200, patched.text);
    assert.equal(patched.json.status, 'suspended');
    assert.equal(patched.json.maxCalls, null);

    const shown = await api.call('GET', `/accounts/${id}`);
    assert.equal(shown.status, 200);
    assert.deepEqual([shown.json.code, shown.json.balance, shown.json.reserved, shown.json.available, shown.json.lowBalanceThreshold], ['portal-1', '11.999999', '0.000000', '11.999999', '2.000000']);

    const ledger = await api.call('GET', '/accounts/portal-1/ledger?limit=10');
    assert.equal(ledger.status, 200);
    const entries = ledger.json.entries as Array<{ kind: string; amount: string; key: string }>;
    assert.deepEqual(entries.map((e) => [e.kind, e.amount, e.key]), [['adjustment', '-0.500001', 'fix-1'], ['topup', '12.500000', 'pay-771']]);

    assert.equal((await api.call('GET', '/accounts/nobody')).status, 404);
    assert.equal((await api.call('POST', '/accounts', { code: 'portal-1', currency: 'EUR' })).status, 409);
  });

  const badInputs: Array<{ name: string; method: string; path: string; body?: unknown; field: string }> = [
    { name: 'account without currency', method: 'POST', path: '/accounts', body: { code: 'x1' }, field: 'currency' },
    { name: 'account with a lower-case currency', method: 'POST', path: '/accounts', body: { code: 'x1', currency: 'eur' }, field: 'currency' },
    { name: 'account with an unknown field', method: 'POST', path: '/accounts', body: { code: 'x1', currency: 'EUR', colour: 'red' }, field: 'colour' },
    { name: 'account with a money threshold as a JSON number', method: 'POST', path: '/accounts', body: { code: 'x1', currency: 'EUR', lowBalanceThreshold: 0.1 }, field: 'lowBalanceThreshold' },
    { name: 'top-up without a key', method: 'POST', path: '/accounts/acme-alice/topups', body: { amount: '1.00' }, field: 'key' },
    { name: 'top-up with 7 decimals', method: 'POST', path: '/accounts/acme-alice/topups', body: { amount: '1.0000001', key: 'k' }, field: 'amount' },
    { name: 'top-up with a negative amount', method: 'POST', path: '/accounts/acme-alice/topups', body: { amount: '-5.00', key: 'k' }, field: 'amount' },
    { name: 'top-up with an amount as a JSON number', method: 'POST', path: '/accounts/acme-alice/topups', body: { amount: 5, key: 'k' }, field: 'amount' },
    { name: 'adjustment of zero', method: 'POST', path: '/accounts/acme-alice/adjustments', body: { amount: '0', key: 'k' }, field: 'amount' },
    { name: 'ledger with limit 0', method: 'GET', path: '/accounts/acme-alice/ledger?limit=0', field: 'limit' },
    { name: 'tariff dry run without seconds', method: 'POST', path: '/rating/dry-run', body: { service: 'voice.public', destination: '4930555123' }, field: 'seconds' },
    { name: 'tariff dry run with a + in the destination', method: 'POST', path: '/rating/dry-run', body: { service: 'voice.public', destination: '+4930555123', seconds: 60 }, field: 'destination' },
    { name: 'tariff dry run with a start that is no instant', method: 'POST', path: '/rating/dry-run', body: { service: 'voice.public', destination: '4930555123', seconds: 60, start: 'tomorrow' }, field: 'start' },
    { name: 'VPN dry run without dialled digits', method: 'POST', path: '/vpn/resolve', body: { caller: ALICE }, field: 'dialled' },
  ];
  for (const t of badInputs) {
    it(`answers 400 naming the field for ${t.name}`, async () => {
      const r = await api.call(t.method, t.path, t.body);
      assert.equal(r.status, 400, r.text);
      assert.equal(r.json.field, t.field, r.text);
      assert.match(String(r.json.message), new RegExp(t.field), r.text);
    });
  }

  it('prices a tariff dry run with the rules in force, as `tollgate tariff rate` does', async () => {
    const body = { service: 'voice.public', destination: '4930555123', plan: 'standard', start: '2026-03-04T10:00:00Z', seconds: 95, money: '1.00' };
    const r = await api.call('POST', '/rating/dry-run', body);
    assert.equal(r.status, 200, r.text);
    const cli = cliJson(product, ['tariff', 'rate', '--service', body.service, '--destination', body.destination, '--plan', body.plan, '--start', body.start, '--seconds', String(body.seconds), '--money', body.money]) as Record<string, unknown>;
    for (const [k, v] of Object.entries(cli)) assert.deepEqual(r.json[k], v, `field ${k}`);
    const none = await api.call('POST', '/rating/dry-run', { service: 'voice.nothing', destination: '4930555123', seconds: 10 });
    assert.equal(none.status, 422);
    assert.equal(none.json.error, 'NO_RULE');
  });

  it('resolves a VPN dry run with the directory in force, as `tollgate vpn resolve` does', async () => {
    for (const [caller, dialled] of [[ALICE, '202'], [ALICE, '9030555123'], ['4930100204', '9030555123']] as const) {
      const r = await api.call('POST', '/vpn/resolve', { caller, dialled });
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.json, cliJson(product, ['vpn', 'resolve', caller, dialled]));
    }
  });

  it('reloads the rule tables and the directory on POST /reload', async () => {
    const before = await api.call('POST', '/reload');
    assert.equal(before.status, 200, before.text);
    assert.equal((before.json.rating as { outcome: string }).outcome, 'unchanged');
    const price = async () => (await api.call('POST', '/rating/dry-run', { service: 'voice.public', destination: '4930555123', plan: 'standard', start: '2026-03-04T10:00:00Z', seconds: 60 })).json.price;
    const old = await price();
    const u = new URL(databaseUrl);
    const conn = await mysql.createConnection({ host: u.hostname, port: Number(u.port), user: 'root', database: u.pathname.slice(1) });
    try {
      await conn.query('UPDATE tariff_steps SET price_per_increment = price_per_increment * 2');
    } finally {
      await conn.end();
    }
    const after = await api.call('POST', '/reload');
    assert.equal((after.json.rating as { outcome: string }).outcome, 'swapped', after.text);
    assert.equal((after.json.vpn as { outcome: string }).outcome, 'unchanged');
    assert.notEqual(await price(), old);
  });

  it('lists a live call with caller, callee, start, granted and remaining seconds, and ends it by id, settled', async () => {
    const caller = await startSipp({
      scenario: { file: path.join(SCENARIOS, 'uac-call-expect-bye.xml') }, target: `127.0.0.1:${product.sipPort}`, transport: 'udp',
      injection: injectionFile([[ALICE, '9030555123']]), calls: 1, timeoutMs: 30_000,
    });
    try {
      const live = await eventually('an answered call', async () => {
        const r = await api.call('GET', '/calls');
        const calls = r.json.calls as Array<Record<string, unknown>>;
        return calls.find((c) => c.state === 'answered');
      }).catch((err: Error) => { throw new Error(`${err.message}\n${product.logs.slice(-10).map((l) => JSON.stringify(l)).join('\n')}`); });
      assert.equal(live.caller, ALICE);
      assert.equal(live.callee, '4930555123');
      assert.ok(typeof live.start === 'string' && !Number.isNaN(Date.parse(live.start)));
      assert.ok((live.grantedSeconds as number) > 0);
      assert.ok((live.remainingSeconds as number) > 0 && (live.remainingSeconds as number) <= (live.grantedSeconds as number));
      const one = await api.call('GET', `/calls/${String(live.callId)}`);
      assert.equal(one.json.callId, live.callId);
      // Past the tariff's 3 free seconds, so the call costs something.
      await new Promise((r) => setTimeout(r, 3500));
      const del = await api.call('DELETE', `/calls/${String(live.callId)}`);
      assert.deepEqual(del.json, { callId: live.callId, ended: true });
      const result = await caller.done;
      assert.equal(result.stats.successful, 1, 'the caller got a BYE');
      assert.equal((await api.call('DELETE', `/calls/${String(live.callId)}`)).status, 404);
      const books = await readBooks(databaseUrl);
      const cdr = books.cdrs.get(String(live.callId));
      assert.equal(cdr?.releaseCause, 'admin');
      assert.ok(cdr.billableSeconds >= 4, `billable ${cdr.billableSeconds}`);
      assert.ok(cdr.cost > 0n);
      assert.equal(books.charges.get(String(live.callId)), cdr.cost, 'CDR cost equals the ledger charge');
      assert.equal(books.openReservations, 0);
      assert.deepEqual(books.unbalanced, []);
    } finally {
      await caller.stop();
    }
  });

  it('serves Prometheus metrics with the token', async () => {
    const r = await api.call('GET', '/metrics');
    assert.equal(r.status, 200);
    assert.match(r.text, /^tollgate_calls_offered_total \d+/m);
    assert.match(r.text, /^tollgate_db_query_seconds_count \d+/m);
  });

  it('does not start when admin.port is taken, and says so naming admin.port', async () => {
    // Holds the port and hangs up on whoever connects (the start-up probe of /ready included).
    const squatter = net.createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
    const busy = (squatter.address() as AddressInfo).port;
    try {
      // A second application on this edge, with the admin port somebody else holds.
      await assert.rejects(startProduct({ databaseUrl, command: 'app', reuse: { ...product, adminPort: busy }, config: { instanceId: 'second', admin: { port: busy } } }),
        (err: Error) => {
          assert.match(err.message, new RegExp(`admin\\.port ${busy} on 127\\.0\\.0\\.1 is already in use`));
          assert.match(err.message, /exited with 1/);
          return true;
        });
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }
  });
});
