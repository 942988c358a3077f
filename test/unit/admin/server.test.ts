import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { buildAdminApp } from '../../../app/admin/server';
import type { AdminDeps } from '../../../app/admin/routes';
import type { ReloadReport } from '../../../app/admin/reload';
import { CallState, type LiveCallView } from '../../../app/calls/call-session';
import { TollgateMetrics } from '../../../app/metrics';
import { silentLogger } from '../../../lib/common/logger';
import { AccountService, MemoryPrepaidStore } from '../../../lib/prepaid';
import { RatingService } from '../../../lib/rating';
import { Directory, VpnService } from '../../../lib/vpn';
import { engineFor, rawRuleSet, rule } from '../rating/fixtures';
import { fixtureData, PLAN } from '../vpn/fixture';

const TOKEN = 'unit-token';

function fakes(over: Partial<AdminDeps> = {}): { deps: AdminDeps; ended: string[]; store: MemoryPrepaidStore } {
  const store = new MemoryPrepaidStore();
  const ended: string[] = [];
  const live: LiveCallView[] = [{
    callId: 'c-1', state: CallState.Answered, caller: '4930100201', callee: '4930555123', scope: 'offnet',
    inviteAt: new Date('2026-05-04T10:00:00Z'), answerAt: new Date('2026-05-04T10:00:02Z'), grantedSeconds: 300, remainingSeconds: 254.37,
    sipCallId: 'a84b4c76e66710@pbx', accountId: 1, ingressTrunk: 'pbx', egressTrunk: 'carrier', currency: 'EUR', reserved: 600_000n, spent: 94_000n,
  }];
  const deps: AdminDeps = {
    instanceId: 'unit-1',
    accounts: new AccountService(store),
    calls: {
      liveCalls: () => live.filter((c) => !ended.includes(c.callId)),
      endCall: async (id) => { if (!live.some((c) => c.callId === id) || ended.includes(id)) return false; ended.push(id); return true; },
    },
    cdrs: {
      findPage: async () => ({ cdrs: [], next: null }),
      stream: async function* () { /* no CDRs */ },
      findByCallId: async () => undefined,
      findBySipCallId: async () => undefined,
    },
    rating: new RatingService(engineFor(rawRuleSet([{ id: 1, connectFee: '0.05', steps: [[0, 60, '0.12'], [60, 1, '0.002']] }], [rule(1, 1)]))),
    vpn: new VpnService(Directory.build(fixtureData(), PLAN)),
    reload: async (): Promise<ReloadReport> => ({ rating: { outcome: 'unchanged' }, vpn: { outcome: 'unchanged', problems: [], loadedAt: new Date(0).toISOString() } }),
    metrics: new TollgateMetrics({ processMetrics: false }),
    pingDatabase: async () => undefined,
    sipConnected: () => true,
    draining: () => false,
    ...over,
  };
  return { deps, ended, store };
}

async function call(app: FastifyInstance, method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, body?: unknown, token: string | null = TOKEN) {
  const res = await app.inject({ method, url, payload: body as object | undefined, headers: token === null ? {} : { authorization: `Bearer ${token}` } });
  return { status: res.statusCode, json: res.body.startsWith('{') ? res.json() as Record<string, unknown> : {}, text: res.body };
}

describe('admin API', () => {
  it('refuses a wrong token, a missing token and a token of another scheme with 401', async () => {
    const app = buildAdminApp(fakes().deps, TOKEN, silentLogger());
    for (const [headers, what] of [[{}, 'missing'], [{ authorization: 'Bearer nope' }, 'wrong'], [{ authorization: `Basic ${TOKEN}` }, 'scheme']] as const) {
      const res = await app.inject({ method: 'GET', url: '/calls', headers });
      assert.equal(res.statusCode, 401, what);
      assert.equal(res.headers['www-authenticate'], 'Bearer realm="tollgate"');
    }
    assert.equal((await call(app, 'GET', '/calls')).status, 200);
    await app.close();
  });

  it('serves health, readiness and the OpenAPI document without a token', async () => {
    const app = buildAdminApp(fakes().deps, TOKEN, silentLogger());
    assert.equal((await call(app, 'GET', '/health', undefined, null)).status, 200);
    assert.equal((await call(app, 'GET', '/ready', undefined, null)).status, 200);
    const doc = await call(app, 'GET', '/openapi.json', undefined, null);
    assert.equal(doc.status, 200);
    const paths = Object.keys(doc.json.paths as object);
    for (const p of ['/accounts', '/accounts/{account}/topups', '/calls/{callId}', '/rating/dry-run', '/vpn/resolve', '/reload', '/metrics']) assert.ok(paths.includes(p), p);
    await app.close();
  });

  const readiness: Array<{ name: string; over: Partial<AdminDeps>; database: string; sip: string; draining: boolean }> = [
    { name: 'the database does not answer', over: { pingDatabase: async () => { throw new Error('down'); } }, database: 'down', sip: 'connected', draining: false },
    { name: 'the SIP server connection is down', over: { sipConnected: () => false }, database: 'up', sip: 'disconnected', draining: false },
    { name: 'the instance is draining', over: { draining: () => true }, database: 'up', sip: 'connected', draining: true },
  ];
  for (const t of readiness) {
    it(`is not ready (503) when ${t.name}`, async () => {
      const app = buildAdminApp(fakes(t.over).deps, TOKEN, silentLogger());
      const r = await call(app, 'GET', '/ready', undefined, null);
      assert.deepEqual({ status: r.status, ...r.json }, { status: 503, ready: false, database: t.database, sip: t.sip, draining: t.draining });
      await app.close();
    });
  }

  it('tops up idempotently and keeps money exact to the micro-unit', async () => {
    const { deps } = fakes();
    const app = buildAdminApp(deps, TOKEN, silentLogger());
    assert.equal((await call(app, 'POST', '/accounts', { code: 'a1', currency: 'EUR' })).status, 201);
    const first = await call(app, 'POST', '/accounts/a1/topups', { amount: '0.000001', key: 'k1' });
    const again = await call(app, 'POST', '/accounts/a1/topups', { amount: '0.000001', key: 'k1' });
    await call(app, 'POST', '/accounts/a1/topups', { amount: '99999999999999.999998', key: 'k2' });
    assert.equal(first.json.id, again.json.id);
    assert.equal((await call(app, 'GET', '/accounts/a1')).json.balance, '99999999999999.999999');
    await app.close();
  });

  it('lists live calls with their SIP Call-ID, account, trunks, grant and money, and ends one by id', async () => {
    const { deps, ended } = fakes();
    const app = buildAdminApp(deps, TOKEN, silentLogger());
    const list = await call(app, 'GET', '/calls');
    assert.deepEqual(list.json, {
      count: 1,
      calls: [{ callId: 'c-1', state: 'answered', caller: '4930100201', callee: '4930555123', scope: 'offnet', start: '2026-05-04T10:00:00.000Z', answeredAt: '2026-05-04T10:00:02.000Z', grantedSeconds: 300, remainingSeconds: 254.4,
        sipCallId: 'a84b4c76e66710@pbx', accountId: 1, ingressTrunk: 'pbx', egressTrunk: 'carrier', currency: 'EUR', reserved: '0.600000', spent: '0.094000' }],
    });
    assert.deepEqual((await call(app, 'DELETE', '/calls/c-1')).json, { callId: 'c-1', ended: true });
    assert.deepEqual(ended, ['c-1']);
    const again = await call(app, 'DELETE', '/calls/c-1');
    assert.equal(again.status, 404);
    assert.equal(again.json.error, 'UNKNOWN_CALL');
    await app.close();
  });

  it('prices a dry run exactly and says what an amount buys', async () => {
    const app = buildAdminApp(fakes().deps, TOKEN, silentLogger());
    const r = await call(app, 'POST', '/rating/dry-run', { service: 'voice.public', destination: '4930555123', seconds: 61, money: '0.172' });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual([r.json.price, r.json.money, r.json.maxSeconds], ['0.172000', '0.172000', 61]);
    await app.close();
  });

  it('answers 500 without internals when a dependency fails unexpectedly', async () => {
    const app = buildAdminApp(fakes({ reload: async () => { throw new Error('secret detail'); } }).deps, TOKEN, silentLogger());
    const r = await call(app, 'POST', '/reload');
    assert.deepEqual({ status: r.status, ...r.json }, { status: 500, error: 'INTERNAL_ERROR', message: 'internal error; see the log' });
    await app.close();
  });
});
