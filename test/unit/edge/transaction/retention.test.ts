import { strict as assert } from 'node:assert';
import { SipMessage } from '../../../../lib/edge/message/message';
import { parseMessage } from '../../../../lib/edge/message/parser';
import { ClientTransaction } from '../../../../lib/edge/transaction/client-transaction';
import { ServerTransaction } from '../../../../lib/edge/transaction/server-transaction';

const SDP = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n';
const at = { transport: 'udp' as const, address: '127.0.0.1', port: 5062 };
const timers = { t1: 50, t2: 200, t4: 250 };

function request(method: string): SipMessage {
  return parseMessage(Buffer.from([
    `${method} sip:bob@127.0.0.1 SIP/2.0`, 'Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-r1;rport', 'Max-Forwards: 70',
    'From: <sip:a@127.0.0.1>;tag=a1', 'To: <sip:bob@127.0.0.1>', 'Call-ID: keep-1', `CSeq: 1 ${method}`,
    'Contact: <sip:a@127.0.0.1:5062>', 'Content-Type: application/sdp', `Content-Length: ${SDP.length}`, '', SDP,
  ].join('\r\n'), 'latin1'));
}
function response(req: SipMessage, status: number): SipMessage {
  const res = SipMessage.response(status, status === 200 ? 'OK' : 'Busy Here');
  for (const n of ['via', 'from', 'call-id', 'cseq']) res.append(n, req.get(n) as string);
  res.append('to', `${req.get('to') as string};tag=b1`);
  return res;
}
/** True when the buffer is not a slice of Node's shared pool (whose 8 KB slab a kept slice pins). */
const ownsItsMemory = (b: Buffer) => b.byteOffset === 0 && b.buffer.byteLength === b.length;

describe('edge: what finished transactions keep', () => {
  it('wire copies and parsed bodies have memory of their own, not a pinned pool slab', () => {
    const req = request('INVITE');
    assert.ok(ownsItsMemory(req.body), 'body');
    assert.ok(ownsItsMemory(req.toBuffer()), 'wire form');
    assert.equal(req.toBuffer().toString('latin1').endsWith(SDP), true);
  });

  it('an accepted INVITE server transaction keeps no wire copy and absorbs retransmissions', () => {
    const sent: Buffer[] = [];
    const tx = new ServerTransaction('s1', 'k', request('INVITE'), at, at, false, timers, { send: (b) => sent.push(b), terminated: () => undefined });
    tx.respond(response(tx.request, 200));
    assert.equal(tx.state, 'accepted');
    assert.equal(tx.lastStatus, 200);
    assert.equal(tx.finalSent, true);
    tx.onRetransmission();
    assert.equal(sent.length, 1, 'nothing resent in Accepted (RFC 6026)');
    tx.terminate();
  });

  it('a completed non-INVITE server transaction still answers a retransmission (Timer J)', () => {
    const sent: Buffer[] = [];
    const tx = new ServerTransaction('s2', 'k', request('BYE'), at, at, false, timers, { send: (b) => sent.push(b), terminated: () => undefined });
    tx.respond(response(tx.request, 200));
    tx.onRetransmission();
    assert.equal(sent.length, 2);
    assert.deepEqual(sent[1], sent[0]);
    tx.terminate();
  });

  it('a client transaction lets go of its request bytes at the final response; a non-2xx ACK is still resent', () => {
    const sent: Buffer[] = [];
    const hooks = { send: (b: Buffer) => sent.push(b), response: () => undefined, timeout: () => undefined, unreachable: () => undefined, terminated: () => undefined };
    const tx = new ClientTransaction('c1', 'k', request('INVITE'), at, false, timers, hooks);
    tx.start();
    assert.ok(tx.wireBytes.length > 0);
    const busy = response(tx.request, 486);
    tx.receive(busy);
    assert.equal(tx.wireBytes.length, 0);
    tx.receive(busy);
    assert.match(sent[sent.length - 1].toString('latin1'), /^ACK /);
    assert.match(sent[sent.length - 2].toString('latin1'), /^ACK /);
    tx.terminate();
  });
});
