import assert from 'node:assert/strict';
import type Srf from 'drachtio-srf';
import { identifyCaller } from '../../../app/admission/identify-caller';
import { resolveNumbering } from '../../../app/admission/resolve-vpn';
import { checkTrunkAccess } from '../../../app/admission/trunk-access';
import { CallRejection, type AdmissionContext } from '../../../app/calls/types';
import { silentLogger } from '../../../lib/common/logger';
import { Directory, resolveCall, VpnService } from '../../../lib/vpn';
import { fixtureData, PLAN } from './fixture';

const directory = Directory.build(fixtureData(), PLAN);
const ACME_1001 = '4930100001';
const PUBLIC = '4930555000';
const PBX = directory.trunkByName('pbx-acme')!;
const CARRIER = directory.trunkByName('carrier-a')!;

describe('only trunks that serve members speak for subscribers', () => {
  const cases: Array<{ why: string; caller: string; trunk: typeof PBX | undefined; expect: { ok: true; accountId: number } | { ok: false; code: string } }> = [
    { why: 'a member calling from its PBX trunk is the member', caller: ACME_1001, trunk: PBX, expect: { ok: true, accountId: directory.subscriber(ACME_1001)!.accountId } },
    { why: 'a member\'s number in From on a carrier trunk is not the member', caller: ACME_1001, trunk: CARRIER, expect: { ok: false, code: 'UNTRUSTED_CALLER' } },
    { why: 'a non-member subscriber\'s number on a carrier trunk is not the subscriber', caller: PUBLIC, trunk: CARRIER, expect: { ok: false, code: 'UNTRUSTED_CALLER' } },
    { why: 'a sip: URI with the member\'s number on a carrier trunk is not the member', caller: `sip:+${ACME_1001}@pbx.example`, trunk: CARRIER, expect: { ok: false, code: 'UNTRUSTED_CALLER' } },
    { why: 'an unknown number on the PBX trunk is still unknown', caller: '4930999999', trunk: PBX, expect: { ok: false, code: 'UNKNOWN_CALLER' } },
    { why: 'a dry run (no trunk) resolves as from the member side', caller: ACME_1001, trunk: undefined, expect: { ok: true, accountId: directory.subscriber(ACME_1001)!.accountId } },
  ];
  for (const c of cases) {
    it(c.why, () => {
      const result = resolveCall(directory, { caller: c.caller, dialled: '1002', ...(c.trunk ? { ingressTrunk: c.trunk } : {}) });
      if (c.expect.ok) {
        assert.ok(result.ok, JSON.stringify(result));
        assert.equal(result.resolution.caller.accountId, c.expect.accountId);
      } else {
        assert.equal(result.ok, false, JSON.stringify(result));
        if (!result.ok) {
          assert.deepEqual([result.refusal.status, result.refusal.code], [403, c.expect.code]);
          if (c.trunk) assert.match(result.refusal.reason, new RegExp(c.expect.code === 'UNTRUSTED_CALLER' ? c.trunk.name : '.'));
        }
      }
    });
  }

  it('the fixture\'s PBX trunks serve members and its carriers do not', () => {
    assert.deepEqual(fixtureData().trunks.map((t) => [t.name, t.servesMembers]), [
      ['pbx-acme', true], ['pbx-beta', true], ['carrier-a', false], ['carrier-b', false], ['carrier-intl', false], ['retired', false],
    ]);
  });
});

/** An INVITE as admission reads it: source address, From, P-Asserted-Identity, Request-URI. */
function invite(source: string, from: string, pai?: string): Srf.SrfRequest {
  const headers: Record<string, string> = { from: `<${from}>`, ...(pai ? { 'p-asserted-identity': `<${pai}>` } : {}) };
  return {
    source_address: source, uri: 'sip:1002@tollgate.example',
    has: (name: string) => name.toLowerCase() in headers,
    getParsedHeader: (name: string) => {
      const v = headers[name.toLowerCase()];
      return v ? { uri: v.slice(1, -1) } : undefined;
    },
  } as unknown as Srf.SrfRequest;
}

async function admitUpToNumbering(req: Srf.SrfRequest): Promise<AdmissionContext> {
  const vpn = new VpnService(directory);
  const call: AdmissionContext = { callId: 'c1', sipCallId: 's1', inviteAt: new Date(), req, logger: silentLogger() };
  for (const step of [checkTrunkAccess(vpn), identifyCaller(), resolveNumbering(vpn)]) await step(call);
  return call;
}

describe('admission: identity by trunk', () => {
  it('takes a trusted PAI on a member-serving trunk', async () => {
    const call = await admitUpToNumbering(invite('192.0.2.10', 'sip:anonymous@pbx.example', `sip:+${ACME_1001}@pbx.example`));
    assert.equal(call.resolution!.caller.e164, ACME_1001);
  });

  it('refuses a carrier call whose From is a member\'s number, with 403 UNTRUSTED_CALLER, before any account is looked at', async () => {
    await assert.rejects(admitUpToNumbering(invite('203.0.113.7', `sip:+${ACME_1001}@carrier.example`)), (err: unknown) => {
      assert.ok(err instanceof CallRejection);
      assert.deepEqual([err.status, err.code], [403, 'UNTRUSTED_CALLER']);
      return true;
    });
  });

  it('ignores a P-Asserted-Identity from a carrier trunk even when it names a member', async () => {
    await assert.rejects(admitUpToNumbering(invite('203.0.113.7', 'sip:4930777777@carrier.example', `sip:+${ACME_1001}@carrier.example`)), (err: unknown) => {
      assert.ok(err instanceof CallRejection);
      assert.equal(err.code, 'UNTRUSTED_CALLER');
      assert.match(err.reason, /4930777777/, 'the From, not the PAI, was read');
      return true;
    });
  });
});
