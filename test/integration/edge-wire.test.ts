import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import Srf from 'drachtio-srf';
import { silentLogger } from '../../lib/common/logger';
import { startEdge, type EdgeServer } from '../../lib/edge';
import { parseMessage } from '../../lib/edge/message/parser';
import type { SipMessage } from '../../lib/edge/message/message';
import { connectApp, withEdgeAndApp } from '../support/srf';

/** A raw UDP far end: collects what the edge sends and answers with what the test says. */
class RawPeer {
  readonly received: SipMessage[] = [];
  private constructor(readonly sock: dgram.Socket) {
    sock.on('message', (data) => { try { this.received.push(parseMessage(data)); } catch { /* not for this test */ } });
  }
  static async open(): Promise<RawPeer> {
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    return new RawPeer(sock);
  }
  get port(): number { return this.sock.address().port; }
  send(text: string, port: number): void { this.sock.send(Buffer.from(text), port, '127.0.0.1'); }
  async next(pred: (m: SipMessage) => boolean, ms = 5000): Promise<SipMessage> {
    const end = Date.now() + ms;
    for (;;) {
      const m = this.received.find(pred);
      if (m) return m;
      if (Date.now() > end) throw new Error('nothing matching arrived');
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  close(): void { this.sock.close(); }
}

/** The response a UAS sends to a request (Via, From, To with tag, Call-ID, CSeq copied). */
function answer(req: SipMessage, status: number, reason: string): string {
  const lines = [`SIP/2.0 ${status} ${reason}`, ...req.getAll('via').map((v) => `Via: ${v}`), `From: ${req.get('from')}`,
    `To: ${req.get('to')};tag=far1`, `Call-ID: ${req.get('call-id')}`, `CSeq: ${req.get('cseq')}`, 'Content-Length: 0', '', ''];
  return lines.join('\r\n');
}

describe('SIP edge on the wire: what applications write and what peers send', function () {
  this.timeout(20_000);
  let edge: EdgeServer;
  let srf: Srf;
  let peer: RawPeer;
  const udpPort = () => (edge.sipAddresses.find((a) => a.transport === 'udp') as { port: number }).port;

  before(async () => {
    edge = await startEdge({
      sip: [{ transport: 'udp', address: '127.0.0.1', port: 0 }],
      control: { address: '127.0.0.1', port: 0, secret: 'wire' },
      timers: { t1: 50, t2: 400, t4: 500 },
    }, silentLogger());
    srf = new Srf();
    await connectApp(srf, edge.controlPort, 'wire');
    peer = await RawPeer.open();
  });
  after(async () => { peer.close(); srf.disconnect(); await edge.close(); });

  it('a Contact the app writes as addr-spec goes out in name-addr form, URI parameters inside the brackets', async () => {
    const call = srf.createUAC(`sip:callee@127.0.0.1:${peer.port}`, {
      localSdp: 'v=0\r\n', headers: { Contact: 'sip:sipp@localhost;transport=udp;expires=60' },
    } as Srf.CreateUACOptions).catch((e: { status?: number }) => e);
    const invite = await peer.next((m) => m.isRequest && m.method === 'INVITE');
    const contact = invite.get('contact') as string;
    assert.match(contact, /^<sip:sipp@127\.0\.0\.1:\d+;transport=udp>;expires=60$/);
    peer.send(answer(invite, 486, 'Busy Here'), udpPort());
    assert.equal(((await call) as { status?: number }).status, 486);
  });

  for (const uri of [';transport=tcp', ';transport=tls', ';transport=sctp']) {
    it(`a request for ${uri} on an edge with no such listener is refused to the app, and nothing is sent`, async () => {
      const before = edge.counters().messagesOut;
      const err = await srf.createUAC(`sip:callee@127.0.0.1:${peer.port}${uri}`, { localSdp: 'v=0\r\n' }).then(
        () => assert.fail('the request went out'), (e: unknown) => e);
      assert.match(String(err), /requested protocol\/transport not available/);
      assert.equal(edge.counters().messagesOut, before);
      assert.ok(!peer.received.some((m) => m.isRequest && m.method === 'INVITE' && (m.get('call-id') ?? '') !== '' && m.uri.includes(uri)));
    });
  }

  it('a sips: request-URI (TLS) is refused the same way', async () => {
    const request = (srf as unknown as { request(uri: string, opts: { method: string }): Promise<unknown> }).request.bind(srf);
    const err = await request(`sips:callee@127.0.0.1:${peer.port}`, { method: 'OPTIONS' }).then(
      () => assert.fail('the request went out'), (e: unknown) => e);
    assert.match(String(err), /requested protocol\/transport not available/);
  });

  it('a ? in the user part of the request-URI is legal and the app gets the call with it', async () => {
    const uris: string[] = [];
    const handler = (req: Srf.SrfRequest, res: Srf.SrfResponse) => { uris.push(req.uri); res.send(486); };
    srf.invite(handler);
    const callId = `qmark-${Date.now()}`;
    peer.send([`INVITE sip:-TXDOTFILE?x@127.0.0.1:${udpPort()} SIP/2.0`, `Via: SIP/2.0/UDP 127.0.0.1:${peer.port};branch=z9hG4bKq1;rport`,
      'Max-Forwards: 70', 'From: <sip:caller@127.0.0.1>;tag=c1', 'To: <sip:-TXDOTFILE?x@127.0.0.1>', `Call-ID: ${callId}`,
      'CSeq: 1 INVITE', `Contact: <sip:caller@127.0.0.1:${peer.port}>`, 'Content-Length: 0', '', ''].join('\r\n'), udpPort());
    const final = await peer.next((m) => !m.isRequest && m.get('call-id') === callId && m.status >= 200);
    assert.equal(final.status, 486);
    assert.deepEqual(uris, [`sip:-TXDOTFILE?x@127.0.0.1:${udpPort()}`]);
  });

  it('a request-line that cannot be read, with readable headers, gets 400 with the reason in Warning', async () => {
    const callId = `badline-${Date.now()}`;
    peer.send([`INVITE  sip:x@127.0.0.1 SIP/2.0`, `Via: SIP/2.0/UDP 127.0.0.1:${peer.port};branch=z9hG4bKb1;rport`,
      'Max-Forwards: 70', 'From: <sip:caller@127.0.0.1>;tag=c2', 'To: <sip:x@127.0.0.1>', `Call-ID: ${callId}`,
      'CSeq: 1 INVITE', 'Content-Length: 0', '', ''].join('\r\n'), udpPort());
    const final = await peer.next((m) => !m.isRequest && m.get('call-id') === callId);
    assert.equal(final.status, 400);
    assert.match(final.get('warning') as string, /bad request line/);
  });
});

function request(method: string, peerPort: number, edgePort: number, callId: string, extra: string[] = []): string {
  return [`${method} sip:svc@127.0.0.1:${edgePort} SIP/2.0`, `Via: SIP/2.0/UDP 127.0.0.1:${peerPort};branch=z9hG4bK${callId};rport`,
    'Max-Forwards: 70', 'From: <sip:peer@127.0.0.1>;tag=p1', 'To: <sip:svc@127.0.0.1>', `Call-ID: ${callId}`, `CSeq: 1 ${method}`,
    `Contact: <sip:peer@127.0.0.1:${peerPort}>`, ...extra, 'Content-Length: 0', '', ''].join('\r\n');
}

describe('SIP edge policies: User-Agent blacklist and OPTIONS keepalives', function () {
  this.timeout(20_000);
  let edge: EdgeServer;
  let srf: Srf;
  let peer: RawPeer;
  const seen: string[] = [];
  const udpPort = () => (edge.sipAddresses.find((a) => a.transport === 'udp') as { port: number }).port;
  const final = (callId: string) => peer.next((m) => !m.isRequest && m.get('call-id') === callId && m.status >= 200);
  let n = 0;
  const id = (what: string) => `${what}-${++n}-${Date.now()}`;

  async function start(options: Parameters<typeof startEdge>[0]['options'], routeOptions: boolean): Promise<void> {
    edge = await startEdge({
      sip: [{ transport: 'udp', address: '127.0.0.1', port: 0 }],
      control: { address: '127.0.0.1', port: 0, secret: 'policy' },
      timers: { t1: 50, t2: 400, t4: 500 },
      userAgentBlacklist: [{ pattern: 'friendly-scanner|sipvicious', action: 'reject', status: 403 }, { pattern: '^sip-cli', action: 'discard' }],
      options,
    }, silentLogger());
    srf = new Srf();
    srf.invite((req, res) => { seen.push(req.get('Call-ID')); res.send(486); });
    if (routeOptions) {
      (srf as unknown as { options(fn: (req: Srf.SrfRequest, res: Srf.SrfResponse) => void): void })
        .options((req, res) => { seen.push(req.get('Call-ID')); res.send(200, { headers: { 'X-Answered-By': 'app' } }); });
    }
    await connectApp(srf, edge.controlPort, 'policy');
    connected = true;
  }
  let connected = false;
  async function stop(): Promise<void> { if (connected) srf.disconnect(); connected = false; await edge.close(); }

  before(async () => { peer = await RawPeer.open(); });
  after(() => peer.close());

  describe('an app that routes INVITE only (defaults)', () => {
    before(() => start(undefined, false));
    after(stop);

    it('OPTIONS no app routes get 200 from the edge, with Allow', async () => {
      const callId = id('opt');
      peer.send(request('OPTIONS', peer.port, udpPort(), callId), udpPort());
      const res = await final(callId);
      assert.equal(res.status, 200);
      assert.match(res.get('allow') as string, /INVITE/);
      assert.equal(edge.counters().optionsAnswered, 1);
    });

    it('a blacklisted User-Agent is answered 403 and the app never sees the INVITE', async () => {
      const callId = id('spam');
      peer.send(request('INVITE', peer.port, udpPort(), callId, ['User-Agent: friendly-scanner 1.0']), udpPort());
      assert.equal((await final(callId)).status, 403);
      assert.ok(!seen.includes(callId));
      assert.equal(edge.counters().blacklistRejects, 1);
    });

    it('a User-Agent to discard gets nothing at all, and the next request is served as usual', async () => {
      const dropped = id('drop');
      const next = id('next');
      peer.send(request('INVITE', peer.port, udpPort(), dropped, ['User-Agent: sip-cli 2.0']), udpPort());
      peer.send(request('INVITE', peer.port, udpPort(), next, ['User-Agent: Tollgate test']), udpPort());
      assert.equal((await final(next)).status, 486);
      assert.ok(!peer.received.some((m) => m.get('call-id') === dropped), 'the discarded request was answered');
      assert.ok(!seen.includes(dropped));
      assert.equal(edge.counters().blacklistDiscards, 1);
    });
  });

  describe('answerWhenUnrouted off, one keepalive User-Agent, an app that routes OPTIONS', () => {
    before(() => start({ answerWhenUnrouted: false, autoRespondUserAgents: ['^KeepaliveSBC'] }, true));
    after(stop);

    it('OPTIONS from the keepalive User-Agent are answered by the edge, the others by the app', async () => {
      const keepalive = id('ka');
      const other = id('other');
      peer.send(request('OPTIONS', peer.port, udpPort(), keepalive, ['User-Agent: KeepaliveSBC/4']), udpPort());
      peer.send(request('OPTIONS', peer.port, udpPort(), other, ['User-Agent: Softphone']), udpPort());
      const [ka, app] = [await final(keepalive), await final(other)];
      assert.equal(ka.status, 200);
      assert.equal(ka.get('x-answered-by'), undefined);
      assert.equal(app.get('x-answered-by'), 'app');
      assert.ok(!seen.includes(keepalive) && seen.includes(other));
    });

    it('with the app gone, OPTIONS get 503 since answering unrouted ones is off', async () => {
      srf.disconnect();
      connected = false;
      const end = Date.now() + 5000;
      while (edge.counters().appConnections > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
      const callId = id('gone');
      peer.send(request('OPTIONS', peer.port, udpPort(), callId), udpPort());
      assert.equal((await final(callId)).status, 503);
    });
  });
});

function answerWith(req: SipMessage, status: number, toTag: string, peerPort: number, extra: string[] = []): string {
  return [`SIP/2.0 ${status} ${status === 200 ? 'OK' : 'Answer'}`, ...req.getAll('via').map((v) => `Via: ${v}`), `From: ${req.get('from')}`,
    `To: ${req.get('to')};tag=${toTag}`, `Call-ID: ${req.get('call-id')}`, `CSeq: ${req.get('cseq')}`,
    `Contact: <sip:${toTag}@127.0.0.1:${peerPort}>`, ...extra, 'Content-Length: 0', '', ''].join('\r\n');
}

describe('SIP edge bounds what applications and forks leave open', function () {
  this.timeout(20_000);
  let peer: RawPeer;
  before(async () => { peer = await RawPeer.open(); });
  after(() => peer.close());

  const withEdge = (unanswered: { timeoutMs: number; status: number | null }, fn: (edge: EdgeServer, srf: Srf) => Promise<void>) =>
    withEdgeAndApp({ unansweredRequests: unanswered }, 'bounds', (edge, srf) => fn(edge, srf));
  const until = async (cond: () => boolean, ms = 5000) => {
    const end = Date.now() + ms;
    while (!cond()) { if (Date.now() > end) throw new Error('condition not reached in time'); await new Promise((r) => setTimeout(r, 10)); }
  };
  const edgePort = (edge: EdgeServer) => (edge.sipAddresses[0]).port;

  it('an INVITE the app never answers is dropped after the timeout, as drachtio-server does; a late answer is refused', async () => {
    await withEdge({ timeoutMs: 300, status: null }, async (edge, srf) => {
      let late: Srf.SrfResponse | null = null;
      srf.invite((_req, res) => { late = res; });
      const callId = `silent-${Date.now()}`;
      const started = Date.now();
      peer.send(request('INVITE', peer.port, edgePort(edge), callId), edgePort(edge));
      await peer.next((m) => !m.isRequest && m.get('call-id') === callId && m.status === 100);
      await until(() => edge.counters().unansweredRequests === 1);
      assert.ok(Date.now() - started >= 280, `given up after ${Date.now() - started} ms`);
      assert.equal(edge.counters().liveServerTransactions, 0);
      assert.ok(!peer.received.some((m) => !m.isRequest && m.get('call-id') === callId && m.status >= 200), 'dropping must not answer');
      const send = (late as unknown as { send(status: number, opts: object, cb: (err: unknown) => void): void });
      const refused = await new Promise<unknown>((resolve) => send.send(486, {}, (err) => resolve(err)));
      assert.match(String(refused), /unknown transaction/);
    });
  });

  it('with a status configured, an unanswered request gets that status instead', async () => {
    await withEdge({ timeoutMs: 300, status: 408 }, async (edge, srf) => {
      (srf as unknown as { message(fn: () => void): void }).message(() => undefined);
      const callId = `silent-msg-${Date.now()}`;
      peer.send(request('MESSAGE', peer.port, edgePort(edge), callId), edgePort(edge));
      const res = await peer.next((m) => !m.isRequest && m.get('call-id') === callId && m.status >= 200);
      assert.equal(res.status, 408);
      assert.equal(edge.counters().unansweredRequests, 1);
    });
  });

  it('a second 200 from another fork is acknowledged and ended with BYE; the app keeps the first', async () => {
    await withEdge({ timeoutMs: 64_000, status: null }, async (edge, srf) => {
      const call = srf.createUAC(`sip:callee@127.0.0.1:${peer.port}`, { localSdp: 'v=0\r\n' });
      const invite = await peer.next((m) => m.isRequest && m.method === 'INVITE');
      peer.send(answerWith(invite, 200, 'forka', peer.port), edgePort(edge));
      peer.send(answerWith(invite, 200, 'forkb', peer.port), edgePort(edge));
      const dlg = await call;
      const forkAck = await peer.next((m) => m.isRequest && m.method === 'ACK' && (m.get('to') ?? '').includes('tag=forkb'));
      assert.match(forkAck.uri, /^sip:forkb@/);
      const forkBye = await peer.next((m) => m.isRequest && m.method === 'BYE' && (m.get('to') ?? '').includes('tag=forkb'));
      peer.send(answerWith(forkBye, 200, 'forkb', peer.port).replace(/;tag=forkb;tag=forkb/, ';tag=forkb'), edgePort(edge));
      await peer.next((m) => m.isRequest && m.method === 'ACK' && (m.get('to') ?? '').includes('tag=forka'));
      assert.equal(edge.counters().forkByes, 1);
      assert.ok(!peer.received.some((m) => m.isRequest && m.method === 'BYE' && (m.get('to') ?? '').includes('tag=forka')));
      const byeA = dlg.destroy();
      const bye = await peer.next((m) => m.isRequest && m.method === 'BYE' && (m.get('to') ?? '').includes('tag=forka'));
      peer.send(answerWith(bye, 200, 'forka', peer.port).replace(/;tag=forka;tag=forka/, ';tag=forka'), edgePort(edge));
      await byeA;
      await until(() => edge.counters().liveDialogs === 0);
    });
  });
});

describe('SIP edge UDP socket buffers', () => {
  /** A logger that keeps what was logged, to read the figures the edge reports. */
  function recordingLogger(): { logger: ReturnType<typeof silentLogger>; lines: Array<Record<string, unknown>> } {
    const logger = silentLogger();
    const lines: Array<Record<string, unknown>> = [];
    for (const level of ['info', 'warn'] as const) {
      const original = logger[level].bind(logger);
      (logger as unknown as Record<string, unknown>)[level] = (message: string, meta?: Record<string, unknown>) => {
        lines.push({ level, message, ...(meta ?? {}) });
        return original(message, meta);
      };
    }
    return { logger, lines };
  }

  it('asks for the configured receive buffer and reports what the kernel granted, in the log and the counters', async () => {
    const { logger, lines } = recordingLogger();
    const edge = await startEdge({
      sip: [{ transport: 'udp', address: '127.0.0.1', port: 0 }], control: { address: '127.0.0.1', port: 0, secret: 'b' },
      udpReceiveBufferBytes: 1024 * 1024,
    }, logger);
    try {
      const granted = edge.counters().udpReceiveBufferBytes;
      assert.ok(granted >= 1024 * 1024, `granted ${granted}`);
      const listening = lines.find((l) => l.message === 'edge listening');
      assert.equal(listening?.udpReceiveBufferBytes, granted);
      assert.equal(listening?.udpReceiveBufferWanted, 1024 * 1024);
      assert.ok(!lines.some((l) => l.level === 'warn'));
    } finally { await edge.close(); }
  });

  it('warns when the kernel grants less than asked (net.core.rmem_max)', async () => {
    const { logger, lines } = recordingLogger();
    const huge = 1024 * 1024 * 1024;
    const edge = await startEdge({
      sip: [{ transport: 'udp', address: '127.0.0.1', port: 0 }], control: { address: '127.0.0.1', port: 0, secret: 'b' },
      udpReceiveBufferBytes: huge,
    }, logger);
    try {
      const warn = lines.find((l) => l.level === 'warn' && String(l.message).includes('rmem_max'));
      assert.ok(warn, 'no warning');
      assert.equal(warn.wanted, huge);
      assert.equal(warn.granted, edge.counters().udpReceiveBufferBytes);
      assert.ok(edge.counters().udpReceiveBufferBytes < huge);
    } finally { await edge.close(); }
  });
});

describe('SIP edge 100rel (RFC 3262): reliable provisionals and PRACK', function () {
  this.timeout(20_000);
  let edge: EdgeServer;
  let srf: Srf;
  let peer: RawPeer;
  const edgePort = () => edge.sipAddresses[0].port;
  let onInvite: (req: Srf.SrfRequest, res: Srf.SrfResponse) => void = (_req, res) => res.send(500);
  before(async () => {
    edge = await startEdge({
      sip: [{ transport: 'udp', address: '127.0.0.1', port: 0 }], control: { address: '127.0.0.1', port: 0, secret: 'rel' },
      timers: { t1: 50, t2: 400, t4: 500 },
    }, silentLogger());
    srf = new Srf();
    srf.invite((req, res) => onInvite(req, res));
    await connectApp(srf, edge.controlPort, 'rel');
    peer = await RawPeer.open();
  });
  after(async () => { peer.close(); srf.disconnect(); await edge.close(); });

  it('an INVITE that requires 100rel gets its 183 reliably: RSeq, retransmitted until the PRACK, which the edge answers', async () => {
    let release: () => void = () => undefined;
    const prackSeen = new Promise<void>((r) => { release = r; });
    onInvite = (_req, res) => {
      res.send(183, { body: 'v=0\r\n' });
      void prackSeen.then(() => res.send(486));
    };
    const callId = `rel-${Date.now()}`;
    peer.send(request('INVITE', peer.port, edgePort(), callId, ['Require: 100rel', 'Supported: 100rel']), edgePort());
    const is183 = (m: SipMessage) => !m.isRequest && m.get('call-id') === callId && m.status === 183;
    const first = await peer.next(is183);
    assert.match(first.get('require') as string, /100rel/);
    const rseq = Number(first.get('rseq'));
    assert.ok(rseq > 0);
    const end = Date.now() + 3000;
    while (peer.received.filter(is183).length < 2 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
    assert.ok(peer.received.filter(is183).length >= 2, 'the reliable 183 was not retransmitted');
    const prack = (rack: string, cseq: number) => [`PRACK sip:svc@127.0.0.1:${edgePort()} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${peer.port};branch=z9hG4bKprack${cseq};rport`, 'Max-Forwards: 70', 'From: <sip:peer@127.0.0.1>;tag=p1',
      `To: ${first.get('to')}`, `Call-ID: ${callId}`, `CSeq: ${cseq} PRACK`, `RAck: ${rack}`, 'Content-Length: 0', '', ''].join('\r\n');
    peer.send(prack(`${rseq + 7} 1 INVITE`, 2), edgePort());
    assert.equal((await peer.next((m) => !m.isRequest && m.get('cseq') === '2 PRACK')).status, 481, 'a PRACK for another RSeq');
    peer.send(prack(`${rseq} 1 INVITE`, 3), edgePort());
    assert.equal((await peer.next((m) => !m.isRequest && m.get('cseq') === '3 PRACK')).status, 200);
    assert.equal(edge.counters().pracksAnswered, 1);
    release();
    assert.equal((await peer.next((m) => !m.isRequest && m.get('call-id') === callId && m.get('cseq') === '1 INVITE' && m.status >= 300)).status, 486);
  });

  it('a reliable provisional never PRACKed: the INVITE is refused 500 after 64*T1 (RFC 3262 §3)', async () => {
    onInvite = (_req, res) => { res.send(180); };
    const callId = `noprack-${Date.now()}`;
    const started = Date.now();
    peer.send(request('INVITE', peer.port, edgePort(), callId, ['Require: 100rel']), edgePort());
    const final = await peer.next((m) => !m.isRequest && m.get('call-id') === callId && m.status >= 200, 8000);
    assert.equal(final.status, 500);
    assert.ok(Date.now() - started >= 64 * 50 - 100, `refused after ${Date.now() - started} ms`);
  });

  it("createUAC toward a peer sending a reliable 183: drachtio-srf's PRACK goes out in the early dialog, later requests use higher CSeqs", async () => {
    const call = srf.createUAC(`sip:callee@127.0.0.1:${peer.port}`, { localSdp: 'v=0\r\n', headers: { Supported: '100rel' } });
    const invite = await peer.next((m) => m.isRequest && m.method === 'INVITE' && (m.get('supported') ?? '').includes('100rel'));
    const inviteSeq = Number((invite.get('cseq') as string).split(' ')[0]);
    peer.send(answerWith(invite, 183, 'early1', peer.port, ['Require: 100rel', 'RSeq: 42']), edgePort());
    const prack = await peer.next((m) => m.isRequest && m.method === 'PRACK');
    assert.equal(prack.get('rack'), `42 ${inviteSeq} INVITE`);
    assert.match(prack.get('to') as string, /tag=early1/);
    assert.match(prack.uri, /^sip:early1@127\.0\.0\.1:/);
    const prackSeq = Number((prack.get('cseq') as string).split(' ')[0]);
    assert.ok(prackSeq > inviteSeq);
    peer.send(answerWith(prack, 200, 'early1', peer.port).replace(/;tag=early1;tag=early1/, ';tag=early1'), edgePort());
    peer.send(answerWith(invite, 200, 'early1', peer.port), edgePort());
    const dlg = await call;
    const bye = dlg.destroy();
    const byeReq = await peer.next((m) => m.isRequest && m.method === 'BYE');
    assert.ok(Number((byeReq.get('cseq') as string).split(' ')[0]) > prackSeq, 'BYE CSeq not above the PRACK');
    peer.send(answerWith(byeReq, 200, 'early1', peer.port).replace(/;tag=early1;tag=early1/, ';tag=early1'), edgePort());
    await bye;
    assert.equal(edge.counters().pracksSent, 1);
  });

  it('the application sees the 180 and the 200 of its INVITE, never the 100 Trying, as with drachtio-server', async () => {
    const provisional: number[] = [];
    const call = srf.createUAC(`sip:callee@127.0.0.1:${peer.port}`, { localSdp: 'v=0\r\n', headers: { Subject: 'no-100' } }, {
      cbProvisional: (res: { status: number }) => { provisional.push(res.status); },
    });
    const invite = await peer.next((m) => m.isRequest && m.method === 'INVITE' && m.get('subject') === 'no-100');
    peer.send(answerWith(invite, 100, 'trying1', peer.port).replace(/\r\nTo: ([^\r]*);tag=trying1/, '\r\nTo: $1'), edgePort());
    peer.send(answerWith(invite, 180, 'trying1', peer.port), edgePort());
    peer.send(answerWith(invite, 200, 'trying1', peer.port), edgePort());
    const dlg = await call;
    assert.deepEqual(provisional, [180]);
    const bye = dlg.destroy();
    const byeReq = await peer.next((m) => m.isRequest && m.method === 'BYE' && m.get('call-id') === invite.get('call-id'));
    peer.send(answerWith(byeReq, 200, 'trying1', peer.port).replace(/;tag=trying1;tag=trying1/, ';tag=trying1'), edgePort());
    await bye;
  });
});
