import assert from 'node:assert/strict';
import { Directory, resolveCall, type CallResolutionResult, type CallScope } from '../../../lib/vpn';
import { fixtureData, PLAN } from './fixture';

const directory = Directory.build(fixtureData(), PLAN);

const ACME_1001 = '4930100001'; // international
const ACME_1002 = '4930100002'; // on-net only
const ACME_1003 = '4930100003'; // local
const ACME_1004 = '4930100004'; // national, bars 49900… and 4930100003
const BETA_21 = '4989200001';
const GAMMA_101 = '4940300001';
const PUBLIC = '4930555000';

interface Resolved {
  scope: CallScope;
  callee: string;
  presented: string;
  routes: string[];
  forced?: boolean;
  calleeGroup?: string;
  calleeExtension?: string;
}
interface Refused { status: number; code: string }
interface Case { why: string; caller: string; dialled: string; expect: Resolved | Refused }

function resolve(caller: string, dialled: string): CallResolutionResult {
  return resolveCall(directory, { caller, dialled });
}

function check(c: Case): void {
  const result = resolve(c.caller, c.dialled);
  if ('status' in c.expect) {
    assert.equal(result.ok, false, `expected a refusal, got ${JSON.stringify(result)}`);
    if (!result.ok) {
      assert.deepEqual({ status: result.refusal.status, code: result.refusal.code }, c.expect);
      assert.ok(result.refusal.reason.length > 0, 'a refusal carries a reason');
    }
    return;
  }
  assert.equal(result.ok, true, `expected a resolution, got ${JSON.stringify(result)}`);
  if (!result.ok) return;
  const r = result.resolution;
  const e = c.expect;
  assert.equal(r.scope, e.scope, 'scope');
  assert.equal(r.callee.e164, e.callee, 'callee');
  assert.equal(r.presentedCaller, e.presented, 'presented caller');
  assert.deepEqual(r.routes.map((t) => t.name), e.routes, 'routes');
  assert.equal(r.forcedOnnet, e.forced ?? false, 'forced on-net');
  if (e.calleeGroup !== undefined) assert.equal(r.callee.groupCode, e.calleeGroup, 'callee group');
  if (e.calleeExtension !== undefined) assert.equal(r.callee.extension, e.calleeExtension, 'callee extension');
}

const ACME_HOME = ['pbx-acme'];
/** 4930: two routes of equal priority, in id order (b, a); then 49 (b) and the default (a, b). */
const BERLIN_ROUTES = ['carrier-b', 'carrier-a'];

describe('resolveCall: a member dialling in its group plan', () => {
  const cases: Case[] = [
    { why: 'an extension of the group is an on-net call showing the caller extension', caller: ACME_1001, dialled: '1002', expect: { scope: 'onnet', callee: ACME_1002, presented: '1001', routes: ACME_HOME, calleeGroup: 'acme', calleeExtension: '1002' } },
    { why: 'an extension inside a SIP URI is the same', caller: ACME_1001, dialled: 'sip:1002@pbx.acme.example', expect: { scope: 'onnet', callee: ACME_1002, presented: '1001', routes: ACME_HOME } },
    { why: 'an unknown extension is refused with 404', caller: ACME_1001, dialled: '1099', expect: { status: 404, code: 'UNKNOWN_EXTENSION' } },
    { why: 'too few digits for an extension is 484', caller: ACME_1001, dialled: '10', expect: { status: 484, code: 'INCOMPLETE_NUMBER' } },
    { why: 'the off-net prefix alone is 484', caller: ACME_1001, dialled: '9', expect: { status: 484, code: 'INCOMPLETE_NUMBER' } },
    { why: 'the off-net prefix and the national prefix alone is 484', caller: ACME_1001, dialled: '90', expect: { status: 484, code: 'INCOMPLETE_NUMBER' } },
    { why: 'the off-net prefix then a national number is off-net', caller: ACME_1001, dialled: '9030555000', expect: { scope: 'offnet', callee: PUBLIC, presented: ACME_1001, routes: BERLIN_ROUTES } },
    { why: 'the off-net prefix then an international number is off-net', caller: ACME_1001, dialled: '9004420712345', expect: { scope: 'offnet', callee: '4420712345', presented: ACME_1001, routes: ['carrier-intl', 'carrier-a', 'carrier-b'] } },
    { why: 'a + after the off-net prefix is not a number', caller: ACME_1001, dialled: '9+4930555000', expect: { status: 404, code: 'INVALID_NUMBER' } },
    { why: 'the off-net prefix then a local-format number takes the caller area code', caller: ACME_1001, dialled: '9555000', expect: { scope: 'offnet', callee: PUBLIC, presented: ACME_1001, routes: BERLIN_ROUTES } },
    { why: 'the off-net prefix then a member public number is forced on-net', caller: ACME_1001, dialled: '90301000-02', expect: { scope: 'onnet', callee: ACME_1002, presented: '1001', routes: ACME_HOME, forced: true, calleeExtension: '1002' } },
    { why: 'a member public number in international form without prefix is on-net', caller: ACME_1001, dialled: '+4930100002', expect: { scope: 'onnet', callee: ACME_1002, presented: '1001', routes: ACME_HOME, forced: true } },
    { why: 'a member public number in national form without prefix is on-net', caller: ACME_1001, dialled: 'tel:030-100002', expect: { scope: 'onnet', callee: ACME_1002, presented: '1001', routes: ACME_HOME, forced: true } },
    { why: 'a non-member number without the off-net prefix is not in the plan', caller: ACME_1001, dialled: '030555000', expect: { status: 404, code: 'NOT_IN_PLAN' } },
    { why: 'a number that is neither extension nor public is not in the plan', caller: ACME_1001, dialled: '12345', expect: { status: 404, code: 'NOT_IN_PLAN' } },
    { why: 'a member of a group that keeps on-net to itself calls other groups off-net, to their home trunk', caller: ACME_1001, dialled: '9089200001', expect: { scope: 'offnet', callee: BETA_21, presented: ACME_1001, routes: ['pbx-beta'], calleeGroup: 'beta', calleeExtension: '21' } },
    { why: 'a suspended public callee is 480', caller: ACME_1001, dialled: '9030555001', expect: { status: 480, code: 'CALLEE_UNAVAILABLE' } },
    { why: 'a suspended member callee is 480', caller: ACME_1001, dialled: '1005', expect: { status: 480, code: 'CALLEE_UNAVAILABLE' } },
    { why: 'a name instead of digits is not a number', caller: ACME_1001, dialled: 'sip:alice@example.com', expect: { status: 404, code: 'INVALID_NUMBER' } },
    { why: 'an unsupported URI scheme is 416', caller: ACME_1001, dialled: 'mailto:alice@example.com', expect: { status: 416, code: 'UNSUPPORTED_URI_SCHEME' } },
    { why: 'beta: an extension of its own group', caller: BETA_21, dialled: '22', expect: { scope: 'onnet', callee: '4989200002', presented: '21', routes: ['pbx-beta'] } },
    { why: 'beta: a single digit is incomplete', caller: BETA_21, dialled: '2', expect: { status: 484, code: 'INCOMPLETE_NUMBER' } },
    { why: 'beta (off-net prefix 0): a member of acme (not willing) is off-net', caller: BETA_21, dialled: '0030100001', expect: { scope: 'offnet', callee: ACME_1001, presented: BETA_21, routes: ACME_HOME, calleeGroup: 'acme' } },
    { why: 'beta: a member of gamma (both willing) is on-net, showing the E.164 number', caller: BETA_21, dialled: '0040300001', expect: { scope: 'onnet', callee: GAMMA_101, presented: BETA_21, routes: ['carrier-a', 'carrier-intl', 'carrier-b'], forced: true, calleeGroup: 'gamma' } },
    { why: 'gamma (pattern): a 3-digit extension', caller: GAMMA_101, dialled: '102', expect: { scope: 'onnet', callee: '4940300003', presented: '101', routes: ['carrier-a', 'carrier-intl', 'carrier-b'] } },
    { why: 'gamma (pattern): a 4-digit extension', caller: GAMMA_101, dialled: '8000', expect: { scope: 'onnet', callee: '4940300002', presented: '101', routes: ['carrier-a', 'carrier-intl', 'carrier-b'] } },
    { why: 'gamma (pattern): a free extension matching the pattern is 404', caller: GAMMA_101, dialled: '103', expect: { status: 404, code: 'UNKNOWN_EXTENSION' } },
    { why: 'gamma (pattern): too few digits is 484', caller: GAMMA_101, dialled: '10', expect: { status: 484, code: 'INCOMPLETE_NUMBER' } },
    { why: 'gamma (no off-net prefix): a public number is dialled directly', caller: GAMMA_101, dialled: '030555000', expect: { scope: 'offnet', callee: PUBLIC, presented: GAMMA_101, routes: BERLIN_ROUTES } },
    { why: 'gamma: a member of acme (not willing) is off-net', caller: GAMMA_101, dialled: '+4930100002', expect: { scope: 'offnet', callee: ACME_1002, presented: GAMMA_101, routes: ACME_HOME } },
    { why: 'gamma: a member of beta (both willing) is on-net', caller: GAMMA_101, dialled: '089200001', expect: { scope: 'onnet', callee: BETA_21, presented: GAMMA_101, routes: ['pbx-beta'], forced: true } },
  ];
  for (const c of cases) it(`${c.why} (${c.caller} dials ${c.dialled})`, () => check(c));
});

describe('resolveCall: callers who are not members, and unknown callers', () => {
  const cases: Case[] = [
    { why: 'a subscriber who is not a member makes a public call to a member, via its home trunk', caller: PUBLIC, dialled: '030100001', expect: { scope: 'public', callee: ACME_1001, presented: PUBLIC, routes: ACME_HOME, calleeGroup: 'acme', calleeExtension: '1001' } },
    { why: 'a public call to an outside number takes the prefix routes', caller: PUBLIC, dialled: '0201234567', expect: { scope: 'public', callee: '49201234567', presented: PUBLIC, routes: ['carrier-b', 'carrier-a'] } },
    { why: 'a public call to a number routed to a disabled trunk skips it', caller: PUBLIC, dialled: '+49891234567', expect: { scope: 'public', callee: '49891234567', presented: PUBLIC, routes: ['carrier-b', 'carrier-a'] } },
    { why: 'a public caller dialling an extension gets 484 (not a full number)', caller: PUBLIC, dialled: '1001', expect: { status: 484, code: 'INCOMPLETE_NUMBER' } },
    { why: 'a public call to a suspended subscriber is 480', caller: PUBLIC, dialled: '+4930555001', expect: { status: 480, code: 'CALLEE_UNAVAILABLE' } },
    { why: 'an unknown caller is refused', caller: '4930999999', dialled: '030555000', expect: { status: 403, code: 'UNKNOWN_CALLER' } },
    { why: 'a calling number that is not a number is refused', caller: 'sip:anonymous@anonymous.invalid', dialled: '030555000', expect: { status: 403, code: 'INVALID_CALLER' } },
    { why: 'a suspended caller is refused', caller: '4930100005', dialled: '1001', expect: { status: 403, code: 'CALLER_INACTIVE' } },
    { why: 'a caller URI with separators and user=phone is recognised', caller: '"Ann" <sip:+49 (30) 100-001@pbx;user=phone>', dialled: '1002', expect: { scope: 'onnet', callee: ACME_1002, presented: '1001', routes: ACME_HOME } },
    { why: 'a caller in national form is recognised', caller: 'tel:030100001', dialled: '1002', expect: { scope: 'onnet', callee: ACME_1002, presented: '1001', routes: ACME_HOME } },
  ];
  for (const c of cases) it(`${c.why} (${c.caller} dials ${c.dialled})`, () => check(c));
});

describe('resolveCall: barring', () => {
  const cases: Case[] = [
    { why: 'on-net only: an extension is allowed', caller: ACME_1002, dialled: '1001', expect: { scope: 'onnet', callee: ACME_1001, presented: '1002', routes: ACME_HOME } },
    { why: 'on-net only: a member public number (forced on-net) is allowed', caller: ACME_1002, dialled: '90301000-01', expect: { scope: 'onnet', callee: ACME_1001, presented: '1002', routes: ACME_HOME, forced: true } },
    { why: 'on-net only: an off-net call is barred', caller: ACME_1002, dialled: '9030555000', expect: { status: 403, code: 'BARRED' } },
    { why: 'on-net only: a member of a group not on-net with its own is off-net and barred', caller: ACME_1002, dialled: '9089200001', expect: { status: 403, code: 'BARRED' } },
    { why: 'local: a number in its own area is allowed', caller: ACME_1003, dialled: '9030555000', expect: { scope: 'offnet', callee: PUBLIC, presented: ACME_1003, routes: BERLIN_ROUTES } },
    { why: 'local: a local-format number is allowed', caller: ACME_1003, dialled: '9555000', expect: { scope: 'offnet', callee: PUBLIC, presented: ACME_1003, routes: BERLIN_ROUTES } },
    { why: 'local: another area is barred', caller: ACME_1003, dialled: '9089123456', expect: { status: 403, code: 'BARRED' } },
    { why: 'local: abroad is barred', caller: ACME_1003, dialled: '9004420712345', expect: { status: 403, code: 'BARRED' } },
    { why: 'national: another area is allowed', caller: ACME_1004, dialled: '9089123456', expect: { scope: 'offnet', callee: '4989123456', presented: ACME_1004, routes: ['carrier-b', 'carrier-a'] } },
    { why: 'national: abroad is barred', caller: ACME_1004, dialled: '9004420712345', expect: { status: 403, code: 'BARRED' } },
    { why: 'an outgoing barring prefix bars the number', caller: ACME_1004, dialled: '909001234567', expect: { status: 403, code: 'BARRED' } },
    { why: 'an outgoing barring entry bars an on-net callee too', caller: ACME_1004, dialled: '1003', expect: { status: 403, code: 'BARRED' } },
    { why: 'an outgoing barring entry leaves other on-net callees alone', caller: ACME_1004, dialled: '1001', expect: { scope: 'onnet', callee: ACME_1001, presented: '1004', routes: ACME_HOME } },
    { why: 'international: abroad is allowed', caller: ACME_1001, dialled: '9004420712345', expect: { scope: 'offnet', callee: '4420712345', presented: ACME_1001, routes: ['carrier-intl', 'carrier-a', 'carrier-b'] } },
    { why: 'incoming barring at the callee refuses a barred caller', caller: ACME_1001, dialled: '9089200002', expect: { status: 403, code: 'BARRED_INCOMING' } },
    { why: 'incoming barring at the callee lets other callers through', caller: BETA_21, dialled: '22', expect: { scope: 'onnet', callee: '4989200002', presented: '21', routes: ['pbx-beta'] } },
    { why: 'incoming barring applies to public callers', caller: PUBLIC, dialled: '+4989200002', expect: { status: 403, code: 'BARRED_INCOMING' } },
  ];
  for (const c of cases) it(`${c.why} (${c.caller} dials ${c.dialled})`, () => check(c));
});

describe('resolveCall: service attributes for rating', () => {
  it('an on-net call carries voice.onnet, the caller plan and group, and the callee number', () => {
    const result = resolve(ACME_1001, '1002');
    assert.ok(result.ok);
    assert.equal(result.resolution.service, 'voice.onnet');
    assert.deepEqual(result.resolution.attributes, { service: 'voice.onnet', callerPlan: 'business', vpnGroup: 'acme', destination: ACME_1002 });
    assert.deepEqual(result.resolution.caller, { e164: ACME_1001, subscriberId: 1, accountId: 101, plan: 'business', groupCode: 'acme', extension: '1001' });
    assert.equal(result.resolution.presentedIsExtension, true);
    assert.equal(result.resolution.dialled, '1002');
  });
  it('an off-net call carries voice.offnet and the caller group', () => {
    const result = resolve(ACME_1001, '9 030 555000');
    assert.ok(result.ok);
    assert.deepEqual(result.resolution.attributes, { service: 'voice.offnet', callerPlan: 'business', vpnGroup: 'acme', destination: PUBLIC });
    assert.equal(result.resolution.dialled, '9030555000');
    assert.equal(result.resolution.presentedIsExtension, false);
  });
  it('a public call carries voice.public, the caller plan and no group', () => {
    const result = resolve(PUBLIC, '030100001');
    assert.ok(result.ok);
    assert.deepEqual(result.resolution.attributes, { service: 'voice.public', callerPlan: 'consumer', vpnGroup: null, destination: ACME_1001 });
    assert.deepEqual(result.resolution.caller, { e164: PUBLIC, subscriberId: 9, accountId: 109, plan: 'consumer' });
  });
  it('a caller without a plan has a null plan attribute', () => {
    const result = resolve('4940300003', '101');
    assert.ok(result.ok);
    assert.equal(result.resolution.attributes.callerPlan, null);
    assert.equal(result.resolution.caller.plan, undefined);
  });
  it('a route target carries host, port and transport', () => {
    const result = resolve(BETA_21, '22');
    assert.ok(result.ok);
    assert.deepEqual(result.resolution.routes, [{ trunkId: 2, name: 'pbx-beta', host: 'pbx-beta.example', port: 5080, transport: 'tcp' }]);
  });
  it('an off-net destination with no matching route is refused 404 NO_ROUTE', () => {
    const data = fixtureData();
    data.routes = data.routes.filter((r) => r.prefix !== '' && r.prefix !== '44');
    const dir = Directory.build(data, PLAN);
    const result = resolveCall(dir, { caller: ACME_1001, dialled: '9004420712345' });
    assert.deepEqual(result.ok ? undefined : { status: result.refusal.status, code: result.refusal.code }, { status: 404, code: 'NO_ROUTE' });
  });
  it('an on-net callee whose home trunk is disabled falls back to the prefix routes', () => {
    const data = fixtureData();
    data.trunks = data.trunks.map((t) => (t.name === 'pbx-acme' ? { ...t, enabled: false } : t));
    const dir = Directory.build(data, PLAN);
    const result = resolveCall(dir, { caller: ACME_1001, dialled: '1002' });
    assert.ok(result.ok);
    assert.deepEqual(result.resolution.routes.map((t) => t.name), BERLIN_ROUTES);
  });
});
