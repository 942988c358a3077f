import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import Srf from 'drachtio-srf';
import { silentLogger } from '../../lib/common/logger';
import { startEdge, type EdgeServer } from '../../lib/edge';
import { parseMessage } from '../../lib/edge/message/parser';
import type { SipMessage } from '../../lib/edge/message/message';
import { connectApp } from '../support/srf';

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
