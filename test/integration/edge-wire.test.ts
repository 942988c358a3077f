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
