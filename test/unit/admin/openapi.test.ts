import assert from 'node:assert/strict';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { buildAdminApp, startAdminServer } from '../../../app/admin/server';
import { adminRoutes, type AdminDeps } from '../../../app/admin/routes';
import { CallState } from '../../../app/calls/call-session';
import { TollgateMetrics } from '../../../app/metrics';
import { AppError } from '../../../lib/common/errors';
import { silentLogger } from '../../../lib/common/logger';
import { AccountService, MemoryPrepaidStore } from '../../../lib/prepaid';
import { RatingService } from '../../../lib/rating';
import { Directory, VpnService } from '../../../lib/vpn';
import { engineFor, rawRuleSet, rule } from '../rating/fixtures';
import { fixtureData, PLAN } from '../vpn/fixture';

const TOKEN = 'unit-token';

function deps(): AdminDeps {
  return {
    instanceId: 'unit-1',
    accounts: new AccountService(new MemoryPrepaidStore()),
    calls: {
      liveCalls: () => [{
        callId: 'c-1', state: CallState.Answered, caller: '4930100201', callee: '4930555123', scope: 'offnet', inviteAt: new Date(), answerAt: new Date(),
        grantedSeconds: 30, remainingSeconds: 20, sipCallId: 'x@y', accountId: 1, ingressTrunk: 'pbx', egressTrunk: 'carrier', currency: 'EUR', reserved: 1n, spent: 0n,
      }],
      endCall: async () => false,
    },
    cdrs: { findPage: async () => ({ cdrs: [], next: null }), stream: async function* () { /* none */ }, findByCallId: async () => undefined, findBySipCallId: async () => undefined },
    rating: new RatingService(engineFor(rawRuleSet([{ id: 1, connectFee: '0.05', steps: [[0, 60, '0.12']] }], [rule(1, 1)]))),
    vpn: new VpnService(Directory.build(fixtureData(), PLAN)),
    reload: async () => ({ rating: { outcome: 'unchanged' }, vpn: { outcome: 'unchanged', problems: [], loadedAt: new Date(0).toISOString() } }),
    metrics: new TollgateMetrics({ processMetrics: false }),
    pingDatabase: async () => undefined,
    sipConnected: () => true,
    draining: () => false,
  };
}

type Op = { summary?: string; security?: unknown[]; parameters?: Array<{ name: string; in: string; required?: boolean }>; requestBody?: unknown; responses: Record<string, { description: string }> };

describe('admin API document and edges', () => {
  it('generates the OpenAPI document from the route schemas: every route, its parameters, body, answers and security', async () => {
    const app = buildAdminApp(deps(), TOKEN, silentLogger());
    const res = await app.inject({ method: 'GET', url: '/openapi.json' });
    assert.equal(res.statusCode, 200);
    const doc = res.json() as { openapi: string; paths: Record<string, Record<string, Op>>; components: { securitySchemes: Record<string, unknown> } };
    assert.equal(doc.openapi, '3.1.0');
    assert.deepEqual(doc.components.securitySchemes.bearer, { type: 'http', scheme: 'bearer' });
    const routes = adminRoutes(deps());
    for (const r of routes) {
      const op = doc.paths[r.url.replace(/:(\w+)/g, '{$1}')]?.[r.method.toLowerCase()];
      assert.ok(op, `${r.method} ${r.url} is documented`);
      assert.equal(op.summary, r.summary);
      assert.deepEqual(Object.keys(op.responses).sort(), Object.keys(r.responses).sort(), `${r.method} ${r.url} answers`);
      assert.equal(op.security !== undefined && op.security.length === 0, r.open === true, `${r.url} open or guarded`);
      for (const name of r.url.match(/:(\w+)/g) ?? []) assert.ok(op.parameters?.some((p) => p.in === 'path' && p.name === name.slice(1) && p.required), `${r.url} path parameter ${name}`);
      assert.equal(op.requestBody !== undefined, r.schema?.body !== undefined, `${r.url} body`);
    }
    const cdrParams = doc.paths['/cdrs']!.get!.parameters!.filter((p) => p.in === 'query').map((p) => p.name).sort();
    assert.deepEqual(cdrParams, ['account', 'caller', 'cursor', 'disposition', 'format', 'from', 'group', 'limit', 'to']);
    assert.ok(doc.paths['/accounts']!.post!.responses['201'], 'creation answers 201');
    assert.ok(doc.paths['/accounts/{account}/topups']!.post!.responses['201']);
    assert.equal(doc.paths['/docs'], undefined, 'the UI itself is not an API route');
    await app.close();
  });

  it('serves Swagger UI for that document without a token, from this process only', async () => {
    const app = buildAdminApp(deps(), TOKEN, silentLogger());
    const page = await app.inject({ method: 'GET', url: '/docs/' });
    assert.equal(page.statusCode, 200);
    assert.match(page.body, /swagger-ui/);
    assert.doesNotMatch(page.body, /(src|href)="https?:/, 'no asset from elsewhere');
    assert.match(String(page.headers['content-security-policy']), /default-src 'self'/);
    const init = await app.inject({ method: 'GET', url: '/docs/static/swagger-initializer.js' });
    assert.equal(init.statusCode, 200);
    assert.match(init.body, /resolveUrl\('\.\/json'\)/);
    const json = await app.inject({ method: 'GET', url: '/docs/json' });
    assert.equal(json.statusCode, 200);
    assert.equal((json.json() as { info: { title: string } }).info.title, 'Tollgate admin API');
    for (const asset of ['/docs/static/swagger-ui-bundle.js', '/docs/static/swagger-ui.css']) {
      assert.equal((await app.inject({ method: 'GET', url: asset })).statusCode, 200, asset);
    }
    await app.close();
  });

  const refusals: Array<{ name: string; headers: Record<string, string>; payload: string; status: number; error: string; message: RegExp }> = [
    { name: 'a body that is not JSON', headers: { 'content-type': 'text/plain' }, payload: 'code=x', status: 415, error: 'UNSUPPORTED_MEDIA_TYPE', message: /application\/json/ },
    { name: 'a form body', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'code=x', status: 415, error: 'UNSUPPORTED_MEDIA_TYPE', message: /application\/json/ },
    { name: 'an empty JSON body', headers: { 'content-type': 'application/json' }, payload: '', status: 400, error: 'BAD_REQUEST', message: /empty/ },
    { name: 'broken JSON', headers: { 'content-type': 'application/json' }, payload: '{"code": ', status: 400, error: 'BAD_REQUEST', message: /not valid JSON/ },
    { name: 'a body over 64 KiB', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ code: 'a', currency: 'EUR', note: 'x'.repeat(70_000) }), status: 413, error: 'BODY_TOO_LARGE', message: /64 KiB/ },
    { name: 'a JSON array', headers: { 'content-type': 'application/json' }, payload: '[1]', status: 400, error: 'BAD_REQUEST', message: /body must be object/ },
  ];
  for (const t of refusals) {
    it(`answers ${t.name} with ${t.status} ${t.error} in its own words, no framework code`, async () => {
      const app = buildAdminApp(deps(), TOKEN, silentLogger());
      const res = await app.inject({ method: 'POST', url: '/accounts', headers: { authorization: `Bearer ${TOKEN}`, ...t.headers }, payload: t.payload });
      assert.equal(res.statusCode, t.status, res.body);
      const body = res.json() as { error: string; message: string };
      assert.equal(body.error, t.error);
      assert.match(body.message, t.message);
      assert.doesNotMatch(res.body, /FST_|Fastify/i);
      await app.close();
    });
  }

  it('answers 201 when it creates an account or a posting, 200 for a replay that changed nothing', async () => {
    const app = buildAdminApp(deps(), TOKEN, silentLogger());
    const post = (url: string, payload: object) => app.inject({ method: 'POST', url, headers: { authorization: `Bearer ${TOKEN}` }, payload });
    assert.equal((await post('/accounts', { code: 'a1', currency: 'EUR' })).statusCode, 201);
    const first = await post('/accounts/a1/topups', { amount: '5.00', key: 't1' });
    assert.equal(first.statusCode, 201, first.body);
    const replay = await post('/accounts/a1/topups', { amount: '5.00', key: 't1' });
    assert.equal(replay.statusCode, 200);
    assert.equal(replay.json().id, first.json().id);
    assert.equal((await post('/accounts/a1/adjustments', { amount: '-1.00', key: 'a1' })).statusCode, 201);
    assert.equal((await post('/accounts/a1/adjustments', { amount: '-1.00', key: 'a1' })).statusCode, 200);
    assert.equal((await app.inject({ method: 'GET', url: '/accounts/a1', headers: { authorization: `Bearer ${TOKEN}` } })).json().balance, '4.000000');
    await app.close();
  });

  it('fails to start on a busy port with an error naming admin.port', async () => {
    const squatter = net.createServer();
    await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
    const port = (squatter.address() as AddressInfo).port;
    try {
      await assert.rejects(startAdminServer(deps(), { address: '127.0.0.1', port, token: TOKEN }, silentLogger()), (err: unknown) => {
        assert.ok(err instanceof AppError);
        assert.equal(err.code, 'ADMIN_PORT_IN_USE');
        assert.match(err.message, new RegExp(`admin\\.port ${port} .*already in use`));
        return true;
      });
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }
  });
});

describe('admin web console files', () => {
  it('serves the page, its script and its style without a token, same-origin only, and keeps them out of the API document', async () => {
    const app = buildAdminApp(deps(), TOKEN, silentLogger());
    for (const [url, type] of [['/console', /^text\/html/], ['/console/', /^text\/html/], ['/console/console.js', /^text\/javascript/], ['/console/console.css', /^text\/css/]] as const) {
      const res = await app.inject({ method: 'GET', url });
      assert.equal(res.statusCode, 200, url);
      assert.match(String(res.headers['content-type']), type, url);
      assert.match(String(res.headers['content-security-policy']), /script-src 'self'/, url);
    }
    const page = (await app.inject({ method: 'GET', url: '/console' })).body;
    assert.doesNotMatch(page, /<script>|\son[a-z]+="/, 'no inline script or handler (the CSP would refuse them)');
    const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json() as { paths: Record<string, unknown> };
    assert.ok(!Object.keys(doc.paths).some((p) => p.startsWith('/console')));
    // Data stays behind the token even when asked for from the console's path prefix.
    assert.equal((await app.inject({ method: 'GET', url: '/console/../calls' })).statusCode, 401);
    await app.close();
  });
});
