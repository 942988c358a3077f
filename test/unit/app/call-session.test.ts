import { strict as assert } from 'node:assert';
import { EventEmitter } from 'node:events';
import type Srf from 'drachtio-srf';
import { silentLogger } from '../../../lib/common/logger';
import type { CdrRecord } from '../../../lib/db/cdr-repository';
import type { CreditControl, Grant, Settlement } from '../../../lib/prepaid';
import type { CallQuote, RatingService } from '../../../lib/rating';
import type { TrunkTarget, VpnService } from '../../../lib/vpn';
import { CallSession, CallState, CREDIT_EXHAUSTED_REASON } from '../../../app/calls/call-session';
import { TrunkCallCounter } from '../../../app/calls/trunk-calls';
import type { AdmissionStep } from '../../../app/calls/types';

/** Fakes of the call's surroundings: they record what the session did to them. */
class FakeDialog extends EventEmitter {
  byes: Array<Record<string, string> | undefined> = [];
  destroy(opts?: { headers: Record<string, string> }, cb?: (err: unknown) => void): void {
    this.byes.push(opts?.headers);
    cb?.(undefined);
  }
}

function fakeRequest(): Srf.SrfRequest {
  const req = new EventEmitter() as unknown as Srf.SrfRequest & { headers: Record<string, string> };
  Object.assign(req, {
    uri: 'sip:202@127.0.0.1', source_address: '127.0.0.1', body: 'v=0',
    get: (h: string) => (h === 'Call-ID' ? 'sip-call-1' : h === 'From' ? '<sip:4930100201@pbx>;tag=a' : ''),
    has: () => false,
  });
  return req;
}

function fakeResponse(): Srf.SrfResponse & { sent: number[] } {
  const res = { sent: [] as number[], finalResponseSent: false } as unknown as Srf.SrfResponse & { sent: number[] };
  res.send = ((status: number) => { res.sent.push(status); (res as { finalResponseSent: boolean }).finalResponseSent = true; }) as Srf.SrfResponse['send'];
  return res;
}

const quote = { ruleId: 1, tariffId: 1, currency: 'EUR', firstStepSeconds: 1, price: (s: number) => BigInt(s) * 1000n, maxSeconds: (m: bigint) => Number(m / 1000n), priceBreakdown: () => ({}) } as unknown as CallQuote;
const ROUTES: TrunkTarget[] = [
  { trunkId: 1, name: 'first', host: '127.0.0.1', port: 5091, transport: 'udp' },
  { trunkId: 2, name: 'second', host: '127.0.0.1', port: 5092, transport: 'udp' },
];

function grant(seconds: number, final: boolean): Grant {
  return { callId: 'c1', accountId: 7, reservationId: 1, mode: 'reserved', grantedSeconds: seconds, addedSeconds: seconds, reserved: BigInt(seconds) * 1000n, final, finalCause: final ? 'credit_exhausted' : null, replay: false, lowBalance: false };
}

interface World {
  session: CallSession;
  uas: FakeDialog;
  uac: FakeDialog;
  res: Srf.SrfResponse & { sent: number[] };
  settles: Array<[string, number]>;
  releases: string[];
  cdrs: CdrRecord[];
  dialled: string[];
  cancels: string[];
}

function world(opts: { outcomes: Array<'answer' | 'ring' | number>; answerGrant?: Grant }): World {
  const uas = new FakeDialog();
  const uac = new FakeDialog();
  const settles: Array<[string, number]> = [];
  const releases: string[] = [];
  const cdrs: CdrRecord[] = [];
  const dialled: string[] = [];
  const outcomes = [...opts.outcomes];
  const cancels: string[] = [];
  const srf = {
    createB2BUA: async (_req: unknown, _res: unknown, uri: string, _opts: unknown, cbs: { cbRequest: (err: unknown, req: unknown) => void }) => {
      dialled.push(uri);
      const next = outcomes.shift();
      if (next === 'answer') return { uas, uac };
      if (next === 'ring') {
        // Rings until the session cancels the outbound INVITE, then fails with 487.
        await new Promise<void>((resolve) => cbs.cbRequest(undefined, { cancel: () => { cancels.push(uri); resolve(); } }));
        throw Object.assign(new Error('cancelled'), { status: 487, reason: 'Request Terminated' });
      }
      throw Object.assign(new Error('failed'), { status: next, reason: 'failed' });
    },
  } as unknown as Srf;
  const credit = {
    answer: async () => opts.answerGrant ?? grant(300, false),
    extend: async () => grant(300, true),
    checkpoint: async () => undefined,
    settle: async (callId: string, seconds: number): Promise<Settlement> => {
      settles.push([callId, seconds]);
      await new Promise((r) => setTimeout(r, 5));
      return { callId, accountId: 7, billableSeconds: seconds, charged: BigInt(seconds) * 1000n, returned: 0n, journalled: false, replay: false };
    },
    release: async (callId: string) => { releases.push(callId); },
  } as unknown as CreditControl;
  const admitAll: AdmissionStep = (call) => {
    call.ingressTrunk = { id: 9, name: 'pbx', addresses: [], paiTrusted: true, host: '127.0.0.1', port: 5060, transport: 'udp', maxCalls: null, enabled: true };
    call.callerUri = 'sip:4930100201@pbx';
    call.resolution = {
      scope: 'onnet', service: 'voice.onnet', dialled: '202', caller: { e164: '4930100201', accountId: 7, groupCode: 'acme', extension: '201' },
      callee: { e164: '4930100202' }, presentedCaller: '201', presentedIsExtension: true, routes: ROUTES,
      attributes: { service: 'voice.onnet', destination: '4930100202' }, forcedOnnet: false,
    };
    call.routes = ROUTES;
    call.quote = quote;
    call.grant = grant(300, false);
  };
  const res = fakeResponse();
  const vpn = { directory: { trunk: () => undefined } } as unknown as VpnService;
  const session = new CallSession({
    srf, steps: [admitAll], credit, rating: { quote: () => quote } as unknown as RatingService, trunkCalls: new TrunkCallCounter(vpn),
    writeCdr: async (cdr) => { cdrs.push(cdr); },
    config: { instanceId: 'test', onnetCallerDisplay: 'both', noAnswerSeconds: 60, reauthLeadSeconds: 10, checkpointSeconds: 15 },
  }, fakeRequest(), res, 'c1', silentLogger());
  return { session, uas, uac, res, settles, releases, cdrs, dialled, cancels };
}

describe('call session', () => {
  it('settles exactly once when both parties hang up, the operator ends it and shutdown ends it, all at once', async () => {
    const w = world({ outcomes: ['answer'] });
    await w.session.run();
    assert.equal(w.session.currentState, CallState.Answered);
    w.uas.emit('destroy', undefined);
    w.uac.emit('destroy', undefined);
    await Promise.all([w.session.end('admin'), w.session.end('shutdown'), w.session.end('credit_exhausted')]);
    assert.equal(w.settles.length, 1);
    assert.equal(w.cdrs.length, 1);
    assert.equal(w.cdrs[0]!.releaseCause, 'caller_bye', 'the first ending wins');
    assert.equal(w.session.currentState, CallState.Ended);
    assert.deepEqual(w.uas.byes, [], 'no BYE back to the leg that hung up');
    assert.equal(w.uac.byes.length, 1, 'the other leg gets one BYE');
  });

  it('cuts off at the end of a final grant with BYE and a credit Reason to both legs', async function () {
    this.timeout(5000);
    const w = world({ outcomes: ['answer'], answerGrant: grant(1, true) });
    await w.session.run();
    await new Promise((r) => setTimeout(r, 1300));
    assert.equal(w.session.currentState, CallState.Ended);
    assert.deepEqual(w.uas.byes, [{ Reason: CREDIT_EXHAUSTED_REASON }]);
    assert.deepEqual(w.uac.byes, [{ Reason: CREDIT_EXHAUSTED_REASON }]);
    assert.deepEqual(w.settles, [['c1', 1]], 'billed the granted second, no more');
    assert.equal(w.cdrs[0]!.cost, 1000n);
  });

  it('fails over to the next route on 503 and connects there', async () => {
    const w = world({ outcomes: [503, 'answer'] });
    await w.session.run();
    assert.deepEqual(w.dialled.map((u) => /:(\d+)$/.exec(u)?.[1]), ['5091', '5092']);
    await w.session.end('caller_bye');
    assert.equal(w.cdrs[0]!.egressTrunk, 'second');
  });

  it('does not try further routes after a busy answer, releases the money and says busy', async () => {
    const w = world({ outcomes: [486, 'answer'] });
    await w.session.run();
    assert.equal(w.dialled.length, 1);
    assert.deepEqual(w.res.sent, [486]);
    assert.deepEqual(w.releases, ['c1']);
    assert.deepEqual(w.settles, []);
    assert.equal(w.cdrs[0]!.disposition, 'busy');
    assert.equal(w.cdrs[0]!.cost, 0n);
  });

  it('passes the last failure to the caller when every route fails', async () => {
    const w = world({ outcomes: [503, 502] });
    await w.session.run();
    assert.equal(w.dialled.length, 2);
    assert.deepEqual(w.res.sent, [502]);
    assert.equal(w.cdrs[0]!.disposition, 'failed');
    assert.deepEqual(w.releases, ['c1']);
  });

  it('ended by shutdown while ringing: cancels the outbound INVITE, answers the caller 503, releases the money', async () => {
    const w = world({ outcomes: ['ring', 'answer'] });
    const running = w.session.run();
    await new Promise((r) => setImmediate(r));
    assert.equal(w.session.currentState, CallState.Dialling);
    await w.session.end('shutdown');
    await running;
    assert.equal(w.cancels.length, 1, 'the ringing leg was cancelled');
    assert.equal(w.dialled.length, 1, 'no further route tried');
    assert.deepEqual(w.res.sent, [503]);
    assert.deepEqual(w.releases, ['c1']);
    assert.equal(w.cdrs[0]!.releaseCause, 'shutdown');
    assert.equal(w.cdrs[0]!.cost, 0n);
    assert.equal(w.session.currentState, CallState.Ended);
  });
});
