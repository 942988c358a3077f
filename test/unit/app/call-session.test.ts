import { strict as assert } from 'node:assert';
import { EventEmitter } from 'node:events';
import type Srf from 'drachtio-srf';
import { silentLogger } from '../../../lib/common/logger';
import type { CdrRecord } from '../../../lib/db/cdr-repository';
import type { CreditControl, Grant, Settlement } from '../../../lib/prepaid';
import type { CallQuote, RatingService } from '../../../lib/rating';
import type { TrunkTarget, VpnService } from '../../../lib/vpn';
import { AppError } from '../../../lib/common/errors';
import { CallSession, CallState, CREDIT_EXHAUSTED_REASON, type CallSessionConfig } from '../../../app/calls/call-session';
import { CallRejection } from '../../../app/calls/types';
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

function fakeRequest(extra: Record<string, string> = {}): Srf.SrfRequest {
  const req = new EventEmitter() as unknown as Srf.SrfRequest & { headers: Record<string, string> };
  const headers: Record<string, string> = { 'Call-ID': 'sip-call-1', From: '<sip:4930100201@pbx>;tag=a', ...extra };
  Object.assign(req, {
    uri: 'sip:202@127.0.0.1', source_address: '127.0.0.1', body: 'v=0',
    get: (h: string) => headers[h] ?? '',
    has: (h: string) => h in headers,
  });
  return req;
}

type FakeResponse = Srf.SrfResponse & { sent: number[]; headers: Array<Record<string, string>> };
function fakeResponse(): FakeResponse {
  const res = { sent: [] as number[], headers: [], finalResponseSent: false } as unknown as FakeResponse;
  res.send = ((status: number, reasonOrOpts?: unknown, opts?: { headers?: Record<string, string> }) => {
    res.sent.push(status);
    const o = (typeof reasonOrOpts === 'object' ? reasonOrOpts : opts) as { headers?: Record<string, string> } | undefined;
    res.headers.push(o?.headers ?? {});
    (res as { finalResponseSent: boolean }).finalResponseSent = true;
  }) as Srf.SrfResponse['send'];
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
  res: FakeResponse;
  b2buaOptions: Array<{ headers: Record<string, string>; responseHeaders: (res: { status: number }) => Record<string, string> }>;
  settles: Array<[string, number]>;
  releases: string[];
  cdrs: CdrRecord[];
  dialled: string[];
  cancels: string[];
}

type Outcome = 'answer' | 'ring' | 'silent' | number;
function world(opts: {
  outcomes: Outcome[]; answerGrant?: Grant; extendError?: Error; config?: Partial<CallSessionConfig>; headers?: Record<string, string>;
}): World {
  const b2buaOptions: World['b2buaOptions'] = [];
  const uas = new FakeDialog();
  const uac = new FakeDialog();
  const settles: Array<[string, number]> = [];
  const releases: string[] = [];
  const cdrs: CdrRecord[] = [];
  const dialled: string[] = [];
  const outcomes = [...opts.outcomes];
  const cancels: string[] = [];
  const srf = {
    createB2BUA: async (_req: unknown, _res: unknown, uri: string, o: World['b2buaOptions'][number], cbs: { cbRequest: (err: unknown, req: unknown) => void }) => {
      dialled.push(uri);
      b2buaOptions.push(o);
      const next = outcomes.shift();
      if (next === 'answer') return { uas, uac };
      if (next === 'silent') {
        // A callee that rang and vanished: nothing ever comes back, not even for a CANCEL.
        cbs.cbRequest(undefined, { cancel: () => { cancels.push(uri); } });
        return new Promise<never>(() => undefined);
      }
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
    extend: async () => { if (opts.extendError) throw opts.extendError; return grant(300, true); },
    checkpoint: async () => undefined,
    settle: async (callId: string, seconds: number): Promise<Settlement> => {
      settles.push([callId, seconds]);
      await new Promise((r) => setTimeout(r, 5));
      return { callId, accountId: 7, billableSeconds: seconds, charged: BigInt(seconds) * 1000n, returned: 0n, journalled: false, replay: false };
    },
    release: async (callId: string) => { releases.push(callId); },
  } as unknown as CreditControl;
  const admitAll: AdmissionStep = (call) => {
    call.ingressTrunk = { id: 9, name: 'pbx', addresses: [], paiTrusted: true, servesMembers: true, host: '127.0.0.1', port: 5060, transport: 'udp', maxCalls: null, enabled: true };
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
    config: { instanceId: 'test', onnetCallerDisplay: 'both', noAnswerSeconds: 60, reauthLeadSeconds: 10, checkpointSeconds: 15, ...opts.config },
  }, fakeRequest(opts.headers), res, 'c1', silentLogger());
  return { session, uas, uac, res, settles, releases, cdrs, dialled, cancels, b2buaOptions };
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

  it('a callee that rang and vanished: the no-answer timer answers the caller 480 and releases the money, whatever the callee does', async function () {
    this.timeout(5000);
    const w = world({ outcomes: ['silent'], config: { noAnswerSeconds: 0.2 } });
    const started = Date.now();
    const ended = new Promise<void>((resolve) => w.session.onEnded(resolve));
    // run() stays on the callee's INVITE, which never settles here; the call ends regardless.
    void w.session.run();
    await ended;
    assert.ok(Date.now() - started < 2000, 'ended within the no-answer time, not at some far-end timer');
    assert.equal(w.cancels.length, 1, 'the outbound INVITE was cancelled');
    assert.deepEqual(w.res.sent, [480]);
    assert.deepEqual(w.releases, ['c1']);
    assert.equal(w.cdrs.length, 1);
    assert.equal(w.cdrs[0]!.disposition, 'no_answer');
    assert.equal(w.cdrs[0]!.releaseCause, 'no_answer');
    assert.equal(w.session.currentState, CallState.Ended);
  });

  it('shutdown while a silent callee rings: the caller gets 503 at once and nothing waits for the callee', async () => {
    const w = world({ outcomes: ['silent'] });
    void w.session.run();
    await new Promise((r) => setImmediate(r));
    await w.session.end('shutdown');
    assert.deepEqual(w.res.sent, [503]);
    assert.equal(w.cdrs[0]!.releaseCause, 'shutdown');
    assert.deepEqual(w.releases, ['c1']);
  });

  it('a 408 from the callee is a timeout, not a refusal', async () => {
    const w = world({ outcomes: [408, 408] });
    await w.session.run();
    assert.equal(w.dialled.length, 2, 'a timeout fails over like a 5xx');
    assert.equal(w.cdrs[0]!.releaseCause, 'callee_timeout');
    assert.equal(w.cdrs[0]!.disposition, 'no_answer');
  });

  it('a lost SIP server freezes an answered call: no cut-off, no BYE, settled at the real end it is given', async function () {
    this.timeout(5000);
    const w = world({ outcomes: ['answer'], answerGrant: grant(1, true) });
    await w.session.run();
    const answerAt = w.session.view().answerAt!.getTime();
    w.session.sipServerLost(new Date(answerAt + 200));
    await new Promise((r) => setTimeout(r, 1300));
    assert.equal(w.session.currentState, CallState.Answered, 'the cut-off of a frozen call does not run');
    assert.deepEqual(w.settles, []);
    await w.session.settleLost(new Date(answerAt + 700));
    assert.deepEqual(w.settles, [['c1', 1]]);
    assert.deepEqual(w.uas.byes, [], 'no BYE over a dead connection');
    assert.deepEqual(w.uac.byes, []);
    assert.equal(w.cdrs[0]!.releaseCause, 'sip_server_lost');
    assert.equal(w.cdrs[0]!.endAt.getTime(), answerAt + 700);
  });

  it('ended by shutdown after its SIP server was lost: settled at the moment of the loss', async () => {
    const w = world({ outcomes: ['answer'] });
    await w.session.run();
    const answerAt = w.session.view().answerAt!.getTime();
    w.session.sipServerLost(new Date(answerAt + 2100));
    await w.session.end('shutdown');
    assert.deepEqual(w.settles, [['c1', 3]], 'billed to the loss (2.1 s, rounded up), not to now');
    assert.deepEqual(w.uas.byes, []);
  });

  it('a grant made final by a database outage cuts off with a database Reason, not a credit one', async function () {
    this.timeout(5000);
    const g = { ...grant(1, true), finalCause: 'database_unavailable' as const };
    const w = world({ outcomes: ['answer'], answerGrant: g });
    await w.session.run();
    await new Promise((r) => setTimeout(r, 1300));
    assert.equal(w.cdrs[0]!.releaseCause, 'database_unavailable');
    assert.deepEqual(w.uas.byes, [{ Reason: 'SIP;cause=503;text="Database unavailable"' }]);
  });

  it('an extension that fails on an unreachable database ends the call at its grant as database_unavailable', async function () {
    this.timeout(5000);
    const w = world({
      outcomes: ['answer'], answerGrant: grant(1, false), config: { reauthLeadSeconds: 1 },
      extendError: new AppError('DB_UNAVAILABLE', 'database unreachable'),
    });
    await w.session.run();
    await new Promise((r) => setTimeout(r, 1300));
    assert.equal(w.cdrs[0]!.releaseCause, 'database_unavailable');
    assert.deepEqual(w.settles, [['c1', 1]]);
  });

  it('asks for session timers on both legs: the caller\'s interval and refresher in our 200, ours on the outbound INVITE', async () => {
    const sessionTimer = { enabled: true, interval: 600, minSE: 90, refresher: 'uac' as const };
    const w = world({ outcomes: ['answer'], config: { sessionTimer }, headers: { 'Session-Expires': '300;refresher=uac', Supported: '100rel, timer' } });
    await w.session.run();
    const o = w.b2buaOptions[0]!;
    assert.equal(o.headers['Session-Expires'], '600;refresher=uac');
    assert.equal(o.headers['Min-SE'], '90');
    assert.equal(o.headers.Supported, '100rel, timer', 'the caller\'s options, timer once');
    assert.deepEqual(o.responseHeaders({ status: 200 }), { 'Session-Expires': '300;refresher=uac', Require: 'timer' });
    assert.deepEqual(o.responseHeaders({ status: 180 }), {}, 'nothing on provisional responses');
    await w.session.end('caller_bye'); // no answered call, and no grant timer, outlives the test
    assert.equal(w.settles.length, 1);
  });

  it('a caller without timer support gets us as its refresher', async () => {
    const sessionTimer = { enabled: true, interval: 600, minSE: 90, refresher: 'uac' as const };
    const w = world({ outcomes: ['answer'], config: { sessionTimer } });
    await w.session.run();
    const o = w.b2buaOptions[0]!;
    assert.deepEqual(o.responseHeaders({ status: 200 }), { 'Session-Expires': '600;refresher=uas' });
    assert.equal(o.headers.Supported, 'timer');
    await w.session.end('caller_bye');
    assert.equal(w.settles.length, 1);
  });

  it('a Session-Expires below our Min-SE is refused 422 with our Min-SE, and recorded', async () => {
    const sessionTimer = { enabled: true, interval: 600, minSE: 90, refresher: 'uac' as const };
    const w = world({ outcomes: ['answer'], config: { sessionTimer }, headers: { 'Session-Expires': '30' } });
    await w.session.run();
    assert.deepEqual(w.res.sent, [422]);
    assert.equal(w.res.headers[0]!['Min-SE'], '90');
    assert.equal(w.dialled.length, 0);
    assert.equal(w.cdrs[0]!.disposition, 'refused');
    assert.equal(w.cdrs[0]!.sipReason, 'SESSION_INTERVAL_TOO_SMALL');
  });

  it('a refusal while draining is a CDR with its code and a Retry-After', async () => {
    const w = world({ outcomes: [] });
    await w.session.refuseNow(new CallRejection(503, 'SHUTTING_DOWN', 'the service is shutting down'), { 'Retry-After': '30' });
    assert.deepEqual(w.res.sent, [503]);
    assert.equal(w.res.headers[0]!['X-Tollgate-Refusal'], 'SHUTTING_DOWN');
    assert.equal(w.res.headers[0]!['Retry-After'], '30');
    assert.equal(w.cdrs[0]!.disposition, 'refused');
    assert.equal(w.cdrs[0]!.sipReason, 'SHUTTING_DOWN');
  });
});
