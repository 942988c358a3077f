import assert from 'node:assert/strict';
import {
  checkClosedUserGroups, Directory, DirectoryError, resolveCall, screenedCallClass, stripPrivatePrefix,
  type CallClass, type CugMembership, type DirectoryData, type ScreeningClock, type ScreeningRule,
} from '../../../lib/vpn';
import { fixtureData, PLAN } from './fixture';

const ACME_1001 = '4930100001'; // international
const ACME_1002 = '4930100002'; // on-net only
const ACME_1003 = '4930100003'; // local
const ACME_1004 = '4930100004'; // national
const BETA_21 = '4989200001';
const BETA_22 = '4989200002';
const PUBLIC = '4930555000';

/**
 * The shared fixture plus the enterprise features: acme has private prefix *7 and short codes
 * 7001 (a supplier, rated voice.virtual) and 7002 (rated on-net); 1001 and 1004 have personal
 * accounts; CUG sales = 1001 (outgoing access) + 1003 (none) + beta 21 (incoming access);
 * CUG lab = 1004 (none) alone; 1003 may call internationally only on weekdays 08:00-18:00,
 * and everyone in acme is barred from international calls on Sundays.
 */
function enterpriseData(): DirectoryData {
  const data = fixtureData();
  data.groups[0] = { ...data.groups[0]!, privatePrefix: '*7' };
  data.members[0] = { ...data.members[0]!, personalAccountId: 901, personalPlan: 'personal' };
  data.members[3] = { ...data.members[3]!, personalAccountId: 904 };
  data.shortCodes = [
    { id: 1, groupId: 1, code: '7001', e164: '4940777000', service: 'voice.virtual' },
    { id: 2, groupId: 1, code: '7002', e164: '4930555000', service: null },
  ];
  data.cugs = [{ id: 1, code: 'sales', name: 'Sales' }, { id: 2, code: 'lab', name: 'Lab' }];
  data.cugMembers = [
    { id: 1, cugId: 1, memberId: 1, outgoingAccess: true, incomingAccess: false },
    { id: 2, cugId: 1, memberId: 3, outgoingAccess: false, incomingAccess: false },
    { id: 3, cugId: 1, memberId: 5, outgoingAccess: false, incomingAccess: true },
    { id: 4, cugId: 2, memberId: 4, outgoingAccess: false, incomingAccess: false },
  ];
  data.screening = [
    { id: 1, groupId: 1, memberId: 3, dayType: 'weekday', timeFrom: '08:00', timeTo: '18:00', callClass: 'international', priority: 0 },
    { id: 2, groupId: 1, memberId: null, dayType: 'sunday', timeFrom: null, timeTo: null, callClass: 'national', priority: 0 },
  ];
  return data;
}

const directory = Directory.build(enterpriseData(), PLAN);
/** A clock that says the given day type and time, whatever the instant. */
const at = (dayType: string | null, hhmm: string): ScreeningClock => ({
  localTime: () => ({ dayType, minuteOfDay: Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3)) }),
});

interface Case {
  why: string;
  caller: string;
  dialled: string;
  clock?: ScreeningClock;
  expect: { scope: string; callee: string; charging?: string; account?: number; plan?: string | null; group?: string | null; service?: string; virtual?: boolean } | { status: number; code: string };
}

const cases: Case[] = [
  // private calls
  { why: 'the private prefix before an off-net number makes it private: personal account and plan, no enterprise rules', caller: ACME_1001, dialled: '*79030123456', expect: { scope: 'offnet', callee: '4930123456', charging: 'private', account: 901, plan: 'personal', group: null } },
  { why: 'a private call in a SIP URI', caller: ACME_1001, dialled: 'sip:*79030123456@pbx.example', expect: { scope: 'offnet', callee: '4930123456', charging: 'private', account: 901 } },
  { why: 'a %-escaped private prefix', caller: ACME_1001, dialled: 'sip:%2A79030123456@pbx.example', expect: { scope: 'offnet', callee: '4930123456', charging: 'private', account: 901 } },
  { why: 'a private call to an extension keeps on-net scope', caller: ACME_1001, dialled: '*71002', expect: { scope: 'onnet', callee: ACME_1002, charging: 'private', account: 901, plan: 'personal', group: null } },
  { why: 'without the prefix the same call is business, paid by the subscriber account', caller: ACME_1001, dialled: '9030123456', expect: { scope: 'offnet', callee: '4930123456', charging: 'business', account: 101, plan: 'business', group: 'acme' } },
  { why: 'a member with no personal account cannot make private calls', caller: ACME_1002, dialled: '*71001', expect: { status: 403, code: 'NO_PERSONAL_ACCOUNT' } },
  { why: 'in a group without a private prefix *7 is not a number', caller: BETA_21, dialled: '*70301234567', expect: { status: 404, code: 'INVALID_NUMBER' } },
  // virtual on-net short codes
  { why: 'a short code reaches the outside number as a virtual on-net call rated as the group says', caller: ACME_1001, dialled: '7001', expect: { scope: 'onnet', callee: '4940777000', service: 'voice.virtual', virtual: true } },
  { why: 'a short code is on-net, so even an on-net-only member may dial it', caller: ACME_1002, dialled: '7001', expect: { scope: 'onnet', callee: '4940777000', virtual: true } },
  { why: 'a short code without a service is rated on-net', caller: ACME_1002, dialled: '7002', expect: { scope: 'onnet', callee: PUBLIC, service: 'voice.onnet', virtual: true } },
  { why: 'short codes belong to their group: beta cannot dial acme\'s', caller: BETA_21, dialled: '7001', expect: { status: 404, code: 'NOT_IN_PLAN' } },
  // closed user groups
  { why: 'within a CUG, across VPN groups', caller: ACME_1003, dialled: '9089200001', clock: at('weekday', '10:00'), expect: { scope: 'offnet', callee: BETA_21 } },
  { why: 'a CUG member without outgoing access cannot call an outside number', caller: ACME_1003, dialled: '9030123456', clock: at('weekday', '10:00'), expect: { status: 403, code: 'CUG_OUTGOING_BARRED' } },
  { why: 'nor a member of its VPN group outside its CUG', caller: ACME_1003, dialled: '1002', expect: { status: 403, code: 'CUG_OUTGOING_BARRED' } },
  { why: 'nor a short code (an outside number)', caller: ACME_1003, dialled: '7002', expect: { status: 403, code: 'CUG_OUTGOING_BARRED' } },
  { why: 'with outgoing access it may call outside its CUG', caller: ACME_1001, dialled: '1002', expect: { scope: 'onnet', callee: ACME_1002 } },
  { why: 'a CUG member without incoming access cannot be called from outside (a member of its VPN group)', caller: ACME_1002, dialled: '1003', expect: { status: 403, code: 'CUG_INCOMING_BARRED' } },
  { why: 'nor from a public caller, through forced on-net or not', caller: PUBLIC, dialled: '030100004', expect: { status: 403, code: 'CUG_INCOMING_BARRED' } },
  { why: 'with incoming access it may be called from outside', caller: BETA_22, dialled: '21', expect: { scope: 'onnet', callee: BETA_21 } },
  { why: 'lab (no access either way) calls nobody outside', caller: ACME_1004, dialled: '1001', expect: { status: 403, code: 'CUG_OUTGOING_BARRED' } },
  { why: 'interworks with forced on-net: sales reaches its CUG partner by public number', caller: ACME_1001, dialled: '030100003', expect: { scope: 'onnet', callee: ACME_1003 } },
  // time-based screening
  { why: 'office hours on a weekday lift 1003 to international', caller: ACME_1001, dialled: '1002', expect: { scope: 'onnet', callee: ACME_1002 } },
  { why: 'screening is per member: 1001 keeps international on a weekday evening', caller: ACME_1001, dialled: '90044201234567', clock: at('weekday', '20:00'), expect: { scope: 'offnet', callee: '44201234567' } },
  { why: 'the group rule bars international on Sundays for everyone without a rule of their own', caller: ACME_1001, dialled: '90044201234567', clock: at('sunday', '10:00'), expect: { status: 403, code: 'BARRED' } },
  { why: 'national calls stay open on Sundays', caller: ACME_1001, dialled: '9089123456', clock: at('sunday', '10:00'), expect: { scope: 'offnet', callee: '4989123456' } },
];

describe('resolveCall: enterprise features (private calls, short codes, closed user groups, screening)', () => {
  for (const c of cases) {
    it(c.why, () => {
      const result = resolveCall(directory, { caller: c.caller, dialled: c.dialled, ...(c.clock ? { clock: c.clock } : {}) });
      if ('status' in c.expect) {
        assert.equal(result.ok, false, JSON.stringify(result));
        if (!result.ok) assert.deepEqual({ status: result.refusal.status, code: result.refusal.code }, c.expect);
        return;
      }
      assert.ok(result.ok, JSON.stringify(result));
      const r = result.resolution, e = c.expect;
      assert.equal(r.scope, e.scope);
      assert.equal(r.callee.e164, e.callee);
      if (e.charging !== undefined) assert.equal(r.charging, e.charging);
      if (e.account !== undefined) assert.equal(r.caller.accountId, e.account);
      if (e.plan !== undefined) assert.equal(r.attributes.callerPlan, e.plan);
      if (e.group !== undefined) assert.equal(r.attributes.vpnGroup, e.group);
      if (e.service !== undefined) assert.equal(r.service, e.service);
      if (e.virtual !== undefined) assert.equal(r.virtualOnnet, e.virtual);
    });
  }
});

describe('time-based screening of a member\'s call class', () => {
  const rule = (id: number, extra: Partial<ScreeningRule>): ScreeningRule => ({ id, groupId: 1, memberId: 1, dayType: null, timeFrom: null, timeTo: null, callClass: 'international', priority: 0, ...extra });
  const officeHours = rule(1, { dayType: 'weekday', timeFrom: '08:00', timeTo: '18:00' });
  const night = rule(2, { timeFrom: '22:00', timeTo: '06:00', callClass: 'onnet_only' });
  const cases: Array<[string, ScreeningRule[], ScreeningClock | undefined, CallClass]> = [
    ['no rules: the member\'s class', [], at('weekday', '09:00'), 'local'],
    ['inside office hours', [officeHours], at('weekday', '08:00'), 'international'],
    ['the window\'s end is exclusive', [officeHours], at('weekday', '18:00'), 'local'],
    ['another day type', [officeHours], at('holiday', '09:00'), 'local'],
    ['a window past midnight, before it', [night], at('weekday', '21:59'), 'local'],
    ['a window past midnight, late', [night], at('weekend', '23:30'), 'onnet_only'],
    ['a window past midnight, early', [night], at(null, '05:59'), 'onnet_only'],
    ['the first matching rule wins', [night, rule(3, { callClass: 'national' })], at('weekday', '23:00'), 'onnet_only'],
    ['without a calendar only all-day any-day rules apply', [officeHours, rule(3, { callClass: 'national' })], undefined, 'national'],
  ];
  for (const [why, rules, clock, expected] of cases) {
    it(why, () => assert.equal(screenedCallClass('local', rules, new Date('2026-12-01T09:00:00Z'), clock), expected));
  }
});

describe('closed user group access (I.255.1)', () => {
  const m = (cugId: number, oa: boolean, ia: boolean): CugMembership => ({ id: cugId, cugId, memberId: 0, outgoingAccess: oa, incomingAccess: ia });
  const cases: Array<[string, CugMembership[], CugMembership[], string | undefined]> = [
    ['neither party in a CUG', [], [], undefined],
    ['a shared CUG allows the call whatever the access', [m(1, false, false)], [m(1, false, false)], undefined],
    ['one shared CUG among several', [m(1, false, false), m(2, false, false)], [m(3, false, false), m(2, false, false)], undefined],
    ['caller without outgoing access to a party in no CUG', [m(1, false, true)], [], 'CUG_OUTGOING_BARRED'],
    ['caller with outgoing access on one membership', [m(1, false, false), m(2, true, false)], [], undefined],
    ['callee without incoming access, caller in no CUG', [], [m(1, true, false)], 'CUG_INCOMING_BARRED'],
    ['callee with incoming access', [], [m(1, false, true)], undefined],
    ['different CUGs: the caller needs OA and the callee IA', [m(1, true, false)], [m(2, false, false)], 'CUG_INCOMING_BARRED'],
    ['different CUGs, OA and IA', [m(1, true, false)], [m(2, false, true)], undefined],
  ];
  for (const [why, caller, callee, code] of cases) it(why, () => assert.equal(checkClosedUserGroups(caller, callee)?.code, code));
});

describe('the private-call prefix in what arrives', () => {
  const cases: Array<[string, string | null, string | undefined]> = [
    ['*7123', '*7', '123'],
    ['sip:*7123@pbx', '*7', 'sip:123@pbx'],
    ['"Ann" <sip:*7123@pbx;user=phone>', '*7', '"Ann" <sip:123@pbx;user=phone>'],
    ['sip:%2a7123@pbx', '*7', 'sip:123@pbx'],
    ['tel:#5123', '#5', 'tel:123'],
    ['sip:%235123@pbx', '#5', 'sip:123@pbx'],
    ['sip:123@pbx', '*7', undefined],
    ['*7123', null, undefined],
  ];
  for (const [input, prefix, expected] of cases) it(`${input} with ${String(prefix)}`, () => assert.equal(stripPrivatePrefix(input, prefix), expected));
});

describe('validation of the enterprise tables', () => {
  const cases: Array<[string, (d: DirectoryData) => void, RegExp]> = [
    ['a short code that is an extension', (d) => { d.shortCodes!.push({ id: 9, groupId: 1, code: '1002', e164: '4940777001', service: null }); }, /is an extension of group acme/],
    ['a short code used twice', (d) => { d.shortCodes!.push({ id: 9, groupId: 1, code: '7001', e164: '4940777001', service: null }); }, /already used in group acme/],
    ['a short code to a non-E.164 number', (d) => { d.shortCodes![0]!.e164 = '040777'; }, /not an E.164 number/],
    ['a bad private prefix', (d) => { d.groups[0]!.privatePrefix = '*7a'; }, /private-call prefix must be/],
    ['a private prefix overlapping the off-net prefix', (d) => { d.groups[0]!.privatePrefix = '9'; }, /overlap/],
    ['a CUG membership of an unknown member', (d) => { d.cugMembers!.push({ id: 9, cugId: 1, memberId: 99, outgoingAccess: false, incomingAccess: false }); }, /member 99 does not exist/],
    ['a member twice in one CUG', (d) => { d.cugMembers!.push({ id: 9, cugId: 1, memberId: 1, outgoingAccess: false, incomingAccess: false }); }, /already in CUG sales/],
    ['a screening rule for a member of another group', (d) => { d.screening!.push({ id: 9, groupId: 1, memberId: 5, dayType: null, timeFrom: null, timeTo: null, callClass: 'local', priority: 0 }); }, /not in group acme/],
    ['a screening window with one end', (d) => { d.screening![0]!.timeTo = null; }, /both or neither/],
    ['a screening time that is not HH:MM', (d) => { d.screening![0]!.timeFrom = '8:00'; }, /HH:MM/],
    ['a bad group status', (d) => { (d.groups[0] as { status?: string }).status = 'frozen'; }, /status "frozen"/],
  ];
  for (const [why, edit, problem] of cases) {
    it(`refuses ${why}`, () => {
      const data = enterpriseData();
      edit(data);
      assert.throws(() => Directory.build(data, PLAN), (err: unknown) => err instanceof DirectoryError && err.problems.some((p) => problem.test(p)));
    });
  }
});

describe('a suspended or closed group', () => {
  const data = enterpriseData();
  data.groups[1] = { ...data.groups[1]!, status: 'suspended' };
  data.groups[2] = { ...data.groups[2]!, status: 'closed' };
  const d = Directory.build(data, PLAN);
  it('refuses its members\' calls', () => {
    const r = resolveCall(d, { caller: BETA_21, dialled: '22' });
    assert.equal(!r.ok && r.refusal.code, 'GROUP_SUSPENDED');
    const c = resolveCall(d, { caller: '4940300001', dialled: '8000' });
    assert.equal(!c.ok && c.refusal.code, 'GROUP_CLOSED');
  });
  it('makes its members unavailable to callers', () => {
    const r = resolveCall(d, { caller: ACME_1001, dialled: '9089200001' });
    assert.deepEqual(!r.ok && [r.refusal.status, r.refusal.code], [480, 'CALLEE_UNAVAILABLE']);
  });
});
