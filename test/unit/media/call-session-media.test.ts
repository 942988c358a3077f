import { strict as assert } from 'node:assert';
import { EventEmitter } from 'node:events';
import type Srf from 'drachtio-srf';
import { Registry } from 'prom-client';
import { silentLogger } from '../../../lib/common/logger';
import type { CdrRecord } from '../../../lib/db/cdr-repository';
import type { MediaRules } from '../../../lib/media';
import type { Account, CreditControl, Grant, Settlement } from '../../../lib/prepaid';
import type { CallQuote, RatingService } from '../../../lib/rating';
import type { TrunkTarget, VpnService } from '../../../lib/vpn';
import { CallSession, CallState, CREDIT_EXHAUSTED_REASON } from '../../../app/calls/call-session';
import { TrunkCallCounter } from '../../../app/calls/trunk-calls';
import { CallRejection, type AdmissionStep } from '../../../app/calls/types';
import { MediaService } from '../../../app/media/call-media';
import type { FreeswitchMediaServer } from '../../../app/media/media-server';
import { MediaMetrics } from '../../../app/media/metrics';
import { until } from './fake-event-socket';

/** A FreeSWITCH channel as drachtio-fsmrf shows it; records what was done to it. */
class FakeEndpoint extends EventEmitter {
  readonly executed: string[] = [];
  readonly modified: string[] = [];
  bridgedTo: string | undefined;
  destroyed = false;
  constructor(readonly uuid: string, readonly local: { sdp: string }, private readonly log: string[], private readonly failPlayback = false, private readonly playMs = 0) { super(); }
  async execute(app: string, arg: string) {
    this.log.push(`${this.uuid} ${app} ${arg}`);
    this.executed.push(`${app} ${arg}`);
    // A prompt that plays for a while (or, with a negative time, never ends).
    if (this.playMs !== 0) await new Promise((r) => { if (this.playMs > 0) setTimeout(r, this.playMs); });
    return { getHeader: (h: string) => (h === 'Application-Response' && this.failPlayback ? 'FILE NOT FOUND' : undefined) };
  }
  async bridge(other: FakeEndpoint) { this.bridgedTo = other.uuid; }
  async modify(sdp: string) { this.modified.push(sdp); }
  async destroy() { this.destroyed = true; }
}

class FakeMediaServer extends EventEmitter {
  isUp = true;
  lastError: string | null = null;
  readonly endpoints: FakeEndpoint[] = [];
  readonly commands: Array<{ command: string; at: number }> = [];
  apiReply: (command: string) => Promise<string> = async () => '+OK\n';
  failPlayback = false;
  playMs = 0;
  constructor(private readonly log: string[]) { super(); }
  async createEndpoint(remoteSdp?: string) {
    if (!this.isUp) throw new Error('not connected');
    const ep = new FakeEndpoint(`ep-${this.endpoints.length + 1}`, { sdp: `v=0 fs-${this.endpoints.length + 1}${remoteSdp ? ' answering' : ' offering'}` }, this.log, this.failPlayback, this.playMs);
    this.endpoints.push(ep);
    return ep;
  }
  async api(command: string) { this.commands.push({ command, at: Date.now() }); return this.apiReply(command); }
}

class FakeDialog extends EventEmitter {
  byes: Array<Record<string, string> | undefined> = [];
  modifies: string[] = [];
  destroy(opts?: { headers: Record<string, string> }, cb?: (err: unknown) => void): void { this.byes.push(opts?.headers); cb?.(undefined); }
  async modify(sdp: string) { this.modifies.push(sdp); return 'v=0 callee-reanswer'; }
}

function fakeRequest(): Srf.SrfRequest {
  const req = new EventEmitter() as unknown as Srf.SrfRequest;
  const headers: Record<string, string> = { 'Call-ID': 'sip-call-1', From: '<sip:4930100201@pbx>;tag=a' };
  Object.assign(req, { uri: 'sip:202@127.0.0.1', source_address: '127.0.0.1', body: 'v=0 caller', get: (h: string) => headers[h] ?? '', has: (h: string) => h in headers });
  return req;
}

type Sent = { status: number; body?: string; headers: Record<string, string> };
function fakeResponse(log: string[]): Srf.SrfResponse & { sent: Sent[] } {
  const res = { sent: [] as Sent[], finalResponseSent: false } as unknown as Srf.SrfResponse & { sent: Sent[] };
  res.send = ((status: number, reasonOrOpts?: unknown, opts?: { headers?: Record<string, string>; body?: string }) => {
    const o = (typeof reasonOrOpts === 'object' ? reasonOrOpts : opts) as { headers?: Record<string, string>; body?: string } | undefined;
    res.sent.push({ status, body: o?.body, headers: o?.headers ?? {} });
    log.push(`response ${status}`);
    if (status >= 200) (res as { finalResponseSent: boolean }).finalResponseSent = true;
  }) as Srf.SrfResponse['send'];
  return res;
}

const quote = { ruleId: 1, tariffId: 1, currency: 'EUR', firstStepSeconds: 1, price: (s: number) => BigInt(s) * 1000n, maxSeconds: (m: bigint) => Number(m / 1000n) } as unknown as CallQuote;
const ROUTES: TrunkTarget[] = [{ trunkId: 1, name: 'first', host: '127.0.0.1', port: 5091, transport: 'udp' }];
const grant = (seconds: number, final: boolean, mode: Grant['mode'] = 'reserved'): Grant => ({
  callId: 'c1', accountId: 7, reservationId: 1, mode, grantedSeconds: seconds, addedSeconds: seconds, reserved: BigInt(seconds) * 1000n,
  final, finalCause: final ? 'credit_exhausted' : null, replay: false, lowBalance: false,
});

const ANY = { accountKinds: ['prepaid' as const], accounts: null, groups: null, scopes: null };
const RULES: MediaRules = {
  select: ANY,
  noCredit: { enabled: true, mode: 'early', prompt: [{ file: '/sounds/no-credit.wav' }] },
  remainingTime: null,
  warning: { enabled: true, secondsBefore: 1, callee: false, prompt: [{ file: '/sounds/warning.wav' }] },
};

async function metric(registry: Registry, name: string, labels: Record<string, string>): Promise<number> {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
  return (m?.values ?? []).find((v) => Object.entries(labels).every(([k, val]) => String(v.labels[k]) === val))?.value ?? 0;
}

function world(opts: { rules?: Partial<MediaRules>; refuse?: CallRejection; answerGrant?: Grant; firstGrant?: Grant; account?: Partial<Account>; promptTimeoutSeconds?: number } = {}) {
  const log: string[] = [];
  const registry = new Registry();
  const server = new FakeMediaServer(log);
  const uas = new FakeDialog();
  const uac = new FakeDialog();
  const uasCreated: FakeDialog[] = [];
  const b2bua: Array<Record<string, unknown>> = [];
  const settles: Array<[string, number]> = [];
  const cdrs: CdrRecord[] = [];
  let answeredAt = 0;
  const srf = {
    createB2BUA: async (_req: unknown, _res: unknown, _uri: string, o: Record<string, unknown>) => {
      log.push('outbound INVITE');
      b2bua.push(o);
      if (typeof o.localSdpA === 'function') log.push(`answer to caller: ${await (o.localSdpA as (sdp: string) => Promise<string>)('v=0 callee')}`);
      answeredAt = Date.now();
      return { uas, uac };
    },
    createUAS: async () => { const d = new FakeDialog(); uasCreated.push(d); log.push('caller answered'); return d; },
  } as unknown as Srf;
  const credit = {
    answer: async () => opts.answerGrant ?? grant(300, false),
    extend: async () => grant(300, true),
    checkpoint: async () => undefined,
    settle: async (callId: string, seconds: number): Promise<Settlement> => {
      settles.push([callId, seconds]);
      return { callId, accountId: 7, billableSeconds: seconds, charged: BigInt(seconds) * 1000n, returned: 0n, journalled: false, replay: false };
    },
    release: async () => undefined,
  } as unknown as CreditControl;
  const admit: AdmissionStep = (call) => {
    call.ingressTrunk = { id: 9, name: 'pbx', addresses: [], paiTrusted: true, servesMembers: true, host: '127.0.0.1', port: 5060, transport: 'udp', maxCalls: null, enabled: true };
    call.callerUri = 'sip:4930100201@pbx';
    call.resolution = {
      scope: 'offnet', service: 'voice.offnet', dialled: '9030555000', caller: { e164: '4930100201', accountId: 7, groupCode: 'acme', extension: '201' },
      callee: { e164: '4930555000' }, presentedCaller: '4930100201', presentedIsExtension: false, routes: ROUTES,
      attributes: { service: 'voice.offnet', destination: '4930555000' }, forcedOnnet: false,
    };
    call.routes = ROUTES;
    call.quote = quote;
    if (opts.refuse) throw opts.refuse;
    call.grant = opts.firstGrant ?? grant(300, false);
  };
  const media = new MediaService({
    srf, server: server as unknown as FreeswitchMediaServer, metrics: new MediaMetrics(registry), promptTimeoutSeconds: opts.promptTimeoutSeconds ?? 2, logger: silentLogger(),
    accounts: { require: async () => ({ balance: 1_000_000n, creditLimit: 0n, reserved: 300_000n, ...opts.account }) as Account },
    rules: { ...RULES, ...opts.rules },
  });
  const res = fakeResponse(log);
  const req = fakeRequest();
  const session = new CallSession({
    srf, steps: [admit], credit, rating: { quote: () => quote } as unknown as RatingService, trunkCalls: new TrunkCallCounter({ directory: { trunk: () => undefined } } as unknown as VpnService),
    writeCdr: async (cdr) => { cdrs.push(cdr); },
    config: { instanceId: 'test', onnetCallerDisplay: 'both', noAnswerSeconds: 60, reauthLeadSeconds: 10, checkpointSeconds: 15 },
    media,
  }, req, res, 'c1', silentLogger());
  return { session, server, res, req, log, registry, uas, uac, uasCreated, b2bua, settles, cdrs, answeredAt: () => answeredAt };
}

const NO_MONEY = new CallRejection(402, 'INSUFFICIENT_FUNDS', 'the available money does not buy the first billing step');

describe('calls with media: no credit', () => {
  it('early mode: 183 with the media server\'s SDP, the prompt, then the 402 with its Reason as without media', async () => {
    const w = world({ refuse: NO_MONEY });
    await w.session.run();
    assert.deepEqual(w.res.sent.map((s) => s.status), [183, 402]);
    assert.equal(w.res.sent[0]!.body, 'v=0 fs-1 answering', 'early media comes from the media server');
    assert.deepEqual(w.log, ['response 183', 'ep-1 playback /sounds/no-credit.wav', 'response 402'], 'the prompt plays before the refusal');
    assert.equal(w.res.sent[1]!.headers.Reason, 'SIP;cause=402;text="the available money does not buy the first billing step"');
    assert.ok(w.server.endpoints[0]!.destroyed, 'the endpoint is released');
    assert.equal(w.cdrs[0]!.disposition, 'refused');
    assert.equal(w.cdrs[0]!.cost, 0n);
    assert.equal(await metric(w.registry, 'tollgate_media_announcements_total', { prompt: 'no_credit' }), 1);
  });

  it('answer mode: the caller is answered, hears the prompt, and gets BYE with the Reason; no 402 follows', async () => {
    const w = world({ refuse: NO_MONEY, rules: { noCredit: { enabled: true, mode: 'answer', prompt: [{ file: '/sounds/no-credit.wav' }] } } });
    await w.session.run();
    assert.deepEqual(w.log, ['caller answered', 'ep-1 playback /sounds/no-credit.wav']);
    assert.deepEqual(w.res.sent, [], 'the session sends no final response of its own');
    assert.deepEqual(w.uasCreated[0]!.byes, [{ Reason: 'SIP;cause=402;text="the available money does not buy the first billing step"' }]);
    assert.equal(w.cdrs[0]!.disposition, 'refused');
  });

  it('a prompt that cannot play still ends in the 402, counted as a failure', async () => {
    const w = world({ refuse: NO_MONEY });
    w.server.failPlayback = true;
    await w.session.run();
    assert.deepEqual(w.res.sent.map((s) => s.status), [183, 402]);
    assert.equal(await metric(w.registry, 'tollgate_media_failures_total', { prompt: 'no_credit', reason: 'play_failed' }), 1);
    assert.equal(await metric(w.registry, 'tollgate_media_announcements_total', { prompt: 'no_credit' }), 0);
  });

  it('a prompt that never ends is cut at promptTimeoutSeconds, counted as a timeout, and the 402 follows', async () => {
    const w = world({ refuse: NO_MONEY, promptTimeoutSeconds: 0.3 });
    w.server.playMs = -1;
    const started = Date.now();
    await w.session.run();
    assert.deepEqual(w.res.sent.map((s) => s.status), [183, 402]);
    assert.ok(Date.now() - started < 2000, 'bounded by the prompt timeout');
    assert.equal(await metric(w.registry, 'tollgate_media_failures_total', { prompt: 'no_credit', reason: 'timeout' }), 1);
  });

  it('a caller who cancels during the prompt gets no 402 from us, and that is no media failure', async () => {
    const w = world({ refuse: NO_MONEY });
    w.server.playMs = 5000;
    const running = w.session.run();
    await until('prompt playing', () => w.log.includes('ep-1 playback /sounds/no-credit.wav'));
    (w.req as unknown as EventEmitter).emit('cancel');
    await running;
    assert.deepEqual(w.res.sent.map((s) => s.status), [183], 'drachtio-srf answers the CANCEL with 487 itself');
    assert.equal(w.cdrs[0]!.disposition, 'refused');
    assert.ok(w.server.endpoints[0]!.destroyed);
    assert.equal(await metric(w.registry, 'tollgate_media_failures_total', { prompt: 'no_credit', reason: 'play_failed' }), 0);
  });

  it('without a media server the refusal is a bare 402 as today, and the fallback is counted', async () => {
    const w = world({ refuse: NO_MONEY });
    w.server.isUp = false;
    await w.session.run();
    assert.deepEqual(w.res.sent.map((s) => s.status), [402]);
    assert.equal(await metric(w.registry, 'tollgate_media_fallbacks_total', { reason: 'media_server_down' }), 1);
  });

  it('refusals that are not about money never hear the prompt', async () => {
    const w = world({ refuse: new CallRejection(486, 'CALL_LIMIT', 'too many calls') });
    await w.session.run();
    assert.deepEqual(w.res.sent.map((s) => s.status), [486]);
    assert.equal(w.server.endpoints.length, 0);
  });
});

describe('calls with media: anchored calls and the warning', function () {
  this.timeout(10_000);

  it('both legs are put on media-server endpoints and bridged at answer', async () => {
    const w = world({ rules: { noCredit: null } });
    await w.session.run();
    const [caller, callee] = w.server.endpoints;
    assert.equal(w.b2bua[0]!.localSdpB, callee!.local.sdp, 'the callee is offered endpoint B');
    assert.ok(w.log.includes(`answer to caller: ${caller!.local.sdp}`), 'the caller is answered with endpoint A');
    assert.deepEqual(callee!.modified, ['v=0 callee'], 'endpoint B takes the callee\'s answer');
    await until('bridge', () => caller!.bridgedTo === callee!.uuid);
    await w.session.end('caller_bye');
    assert.ok(caller!.destroyed && callee!.destroyed, 'endpoints released at the end');
  });

  it('the warning reaches the caller secondsBefore the end of the final grant; the cut-off and the books are as without media', async () => {
    const w = world({ rules: { noCredit: null }, answerGrant: grant(2, true) });
    await w.session.run();
    await until('warning', () => w.server.commands.length > 0, 3000);
    const warnedAfterMs = w.server.commands[0]!.at - w.answeredAt();
    assert.match(w.server.commands[0]!.command, /^uuid_displace ep-1 start \/sounds\/warning.wav 1 mux$/);
    assert.ok(warnedAfterMs >= 950 && warnedAfterMs < 1900, `warned ${warnedAfterMs} ms after answer, 1000 expected (and before the cut-off at 2000)`);
    await until('cut-off', () => w.session.currentState === CallState.Ended, 3000);
    assert.deepEqual(w.uas.byes, [{ Reason: CREDIT_EXHAUSTED_REASON }]);
    assert.deepEqual(w.settles, [['c1', 2]]);
    assert.equal(w.cdrs[0]!.cost, 2000n);
    assert.equal(await metric(w.registry, 'tollgate_media_announcements_total', { prompt: 'warning' }), 1);
  });

  it('with callee: true the callee hears the warning too', async () => {
    const w = world({ rules: { noCredit: null, warning: { enabled: true, secondsBefore: 2, callee: true, prompt: [{ tone: '%(500,0,880)' }] } }, answerGrant: grant(2, true) });
    await w.session.run();
    await until('warnings', () => w.server.commands.length === 2, 3000);
    assert.deepEqual(w.server.commands.map((c) => c.command).sort(), [
      'uuid_displace ep-1 start tone_stream://%(500,0,880) 2 mux', 'uuid_displace ep-2 start tone_stream://%(500,0,880) 2 mux',
    ]);
    await w.session.end('caller_bye');
  });

  it('an endpoint that dies mid-call neither ends the call nor changes its bill; the failed warning is counted', async () => {
    const w = world({ rules: { noCredit: null }, answerGrant: grant(2, true) });
    await w.session.run();
    w.server.endpoints[0]!.emit('destroy');
    w.server.apiReply = async () => '-ERR No such channel!\n';
    await until('cut-off', () => w.session.currentState === CallState.Ended, 4000);
    assert.equal(w.cdrs[0]!.releaseCause, 'credit_exhausted', 'ended by the grant, not by the media');
    assert.deepEqual(w.settles, [['c1', 2]]);
    assert.equal(await metric(w.registry, 'tollgate_media_failures_total', { prompt: 'warning', reason: 'play_failed' }), 1);
  });

  it('a re-INVITE from the caller is answered by the caller\'s endpoint, not passed to the callee', async () => {
    const w = world({ rules: { noCredit: null } });
    await w.session.run();
    const answered: Array<{ status: number; body?: string }> = [];
    w.uas.emit('modify', { body: 'v=0 caller-hold' }, { send: (status: number, o?: { body?: string }) => answered.push({ status, body: o?.body }) });
    await until('re-INVITE answered', () => answered.length > 0);
    assert.deepEqual(w.server.endpoints[0]!.modified, ['v=0 caller-hold']);
    assert.deepEqual(w.uac.modifies, []);
    assert.deepEqual(answered, [{ status: 200, body: 'v=0 fs-1 answering' }]);
    await w.session.end('caller_bye');
  });

  it('a call the selection leaves out keeps end-to-end media', async () => {
    const w = world({ rules: { select: { ...ANY, groups: ['other'] } } });
    await w.session.run();
    assert.equal(w.server.endpoints.length, 0);
    assert.equal(w.b2bua[0]!.localSdpB, undefined);
    await w.session.end('caller_bye');
  });

  it('without a media server the call is placed end to end and counted as a fallback', async () => {
    const w = world({ rules: { noCredit: null } });
    w.server.isUp = false;
    await w.session.run();
    assert.equal(w.session.currentState, CallState.Answered);
    assert.equal(w.b2bua[0]!.localSdpB, undefined);
    assert.equal(await metric(w.registry, 'tollgate_media_fallbacks_total', { reason: 'media_server_down' }), 1);
    await w.session.end('caller_bye');
  });
});

describe('calls with media: remaining time', () => {
  const SAY = { remainingTime: { enabled: true, when: 'before_connect' as const, prompt: [{ file: '/sounds/you-have.wav' }, { say: '{minutes}', language: 'en', type: 'number', method: 'pronounced' as const }] } };

  it('before connecting: in early media, before the callee is called, the minutes the money buys', async () => {
    // 1.0 EUR balance, 0.3 reserved of which all by this call: 1000 s at 0.001/s = 16 minutes.
    const w = world({ rules: { ...SAY, warning: null } });
    await w.session.run();
    assert.deepEqual(w.log.slice(0, 4), ['response 183', 'ep-1 playback /sounds/you-have.wav', 'ep-1 say en number pronounced 16', 'outbound INVITE']);
    assert.ok(w.server.endpoints[0]!.destroyed, 'not anchored: the endpoint goes before the call is placed');
    assert.equal(w.b2bua[0]!.localSdpB, undefined);
    await w.session.end('caller_bye');
  });

  it('a final first grant is told as it is (all the money buys)', async () => {
    const w = world({ rules: { ...SAY, warning: null }, firstGrant: grant(150, true) });
    await w.session.run();
    assert.ok(w.log.includes('ep-1 say en number pronounced 2'), w.log.join(' | '));
    await w.session.end('caller_bye');
  });

  it('at answer: played to the caller before the bridge', async () => {
    const w = world({ rules: { remainingTime: { ...SAY.remainingTime, when: 'at_answer' }, warning: null } });
    await w.session.run();
    const [caller, callee] = w.server.endpoints;
    await until('bridge', () => caller!.bridgedTo === callee!.uuid);
    assert.deepEqual(caller!.executed, ['playback /sounds/you-have.wav', 'say en number pronounced 16']);
    assert.ok(w.log.indexOf('outbound INVITE') < w.log.indexOf('ep-1 playback /sounds/you-have.wav'));
    await w.session.end('caller_bye');
  });
});
