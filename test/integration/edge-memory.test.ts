import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import type Srf from 'drachtio-srf';
import type { EdgeServer } from '../../lib/edge';
import type { SipMessage } from '../../lib/edge/message/message';
import { parseMessage } from '../../lib/edge/message/parser';
import { withEdgeAndApp } from '../support/srf';

/** A raw UDP far end keeping what the edge sends, with the bytes as they came. */
class RawPeer {
  readonly received: Array<{ msg: SipMessage; bytes: Buffer }> = [];
  private constructor(readonly sock: dgram.Socket) {
    sock.on('message', (data) => { try { this.received.push({ msg: parseMessage(data), bytes: Buffer.from(data) }); } catch { /* not SIP */ } });
  }
  static async open(): Promise<RawPeer> {
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    return new RawPeer(sock);
  }
  get port(): number { return this.sock.address().port; }
  send(text: string, port: number): void { this.sock.send(Buffer.from(text), port, '127.0.0.1'); }
  responses(callId: string, method: string, status: number): Array<{ msg: SipMessage; bytes: Buffer }> {
    return this.received.filter(({ msg }) => !msg.isRequest && msg.status === status && msg.get('call-id') === callId
      && (msg.get('cseq') as string).endsWith(method));
  }
  close(): void { this.sock.close(); }
}

const SDP = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n';

function request(method: string, peerPort: number, edgePort: number, callId: string, opts: { branch?: string; seq?: number; toTag?: string; body?: string } = {}): string {
  const body = opts.body ?? '';
  return [`${method} sip:svc@127.0.0.1:${edgePort} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${peerPort};branch=z9hG4bK${opts.branch ?? callId};rport`, 'Max-Forwards: 70',
    'From: <sip:peer@127.0.0.1>;tag=p1', `To: <sip:svc@127.0.0.1>${opts.toTag ? `;tag=${opts.toTag}` : ''}`, `Call-ID: ${callId}`,
    `CSeq: ${opts.seq ?? 1} ${method}`, `Contact: <sip:peer@127.0.0.1:${peerPort}>`,
    ...(body ? ['Content-Type: application/sdp'] : []), `Content-Length: ${Buffer.byteLength(body)}`, '', body].join('\r\n');
}

async function until(cond: () => boolean, ms = 8000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('SIP edge memory: finished transactions kept as bounded records', function () {
  this.timeout(30_000);
  let peer: RawPeer;
  before(async () => { peer = await RawPeer.open(); });
  after(() => peer.close());

  const withEdge = (finished: { maxEntries?: number; maxBytes?: number } | undefined, fn: (edge: EdgeServer, srf: Srf, port: number) => Promise<void>) =>
    withEdgeAndApp({ finishedTransactions: finished }, 'memory', fn);

  it('an answered and ended call leaves no live transaction; retransmissions get the same answers from the records, and expire after 64*T1', async () => {
    await withEdge(undefined, async (edge, srf, port) => {
      let invites = 0;
      // the dialog drachtio-srf makes answers the BYE
      srf.invite((req, res) => { invites++; void srf.createUAS(req, res, { localSdp: SDP }).catch(() => undefined); });
      const callId = `mem-${Date.now()}`;
      const invite = request('INVITE', peer.port, port, callId, { body: SDP });
      peer.send(invite, port);
      await until(() => peer.responses(callId, 'INVITE', 200).length > 0);
      const toTag = peer.responses(callId, 'INVITE', 200)[0].msg.get('to')?.split('tag=')[1] as string;
      peer.send(request('ACK', peer.port, port, callId, { branch: `${callId}-ack`, toTag }), port);
      const bye = request('BYE', peer.port, port, callId, { branch: `${callId}-bye`, seq: 2, toTag });
      peer.send(bye, port);
      await until(() => peer.responses(callId, 'BYE', 200).length === 1);
      await until(() => edge.counters().liveDialogs === 0 && edge.counters().liveServerTransactions === 0);
      const c = edge.counters();
      assert.ok(c.finishedTransactions >= 2, `records: ${c.finishedTransactions}`);
      assert.ok(c.finishedTransactionBytes > 0 && c.finishedTransactionBytes < c.finishedTransactions * 2048, `bytes: ${c.finishedTransactionBytes}`);

      const absorbed = c.retransmissionsAbsorbed;
      peer.send(bye, port);      // Timer J: the same 200 again
      peer.send(invite, port);   // Accepted (RFC 6026): absorbed, not a second call
      await until(() => peer.responses(callId, 'BYE', 200).length === 2 && edge.counters().retransmissionsAbsorbed === absorbed + 2);
      const [first, again] = peer.responses(callId, 'BYE', 200);
      assert.deepEqual(again.bytes, first.bytes);
      assert.equal(invites, 1);
      assert.equal(edge.counters().liveServerTransactions, 0);

      await until(() => edge.counters().finishedTransactions === 0, 64 * 50 + 5000);
      assert.equal(edge.counters().finishedTransactionBytes, 0);
      assert.equal(edge.counters().finishedTransactionsEvicted, 0);
    });
  });

  it('when the cache is full the oldest records go first and the counter says so; an evicted request is served as new', async () => {
    await withEdge({ maxEntries: 3 }, async (edge, _srf, port) => {
      // no application routes OPTIONS: the edge answers them itself, each a finished transaction
      const callIds = [1, 2, 3, 4, 5].map((i) => `opt-${i}-${Date.now()}`);
      for (const id of callIds) {
        peer.send(request('OPTIONS', peer.port, port, id), port);
        await until(() => peer.responses(id, 'OPTIONS', 200).length === 1);
      }
      let c = edge.counters();
      assert.equal(c.finishedTransactions, 3);
      assert.equal(c.finishedTransactionsEvicted, 2);
      const answered = c.optionsAnswered;
      peer.send(request('OPTIONS', peer.port, port, callIds[4]), port);   // still a record: its 200 resent
      peer.send(request('OPTIONS', peer.port, port, callIds[0]), port);   // evicted: answered as a new request
      await until(() => peer.responses(callIds[4], 'OPTIONS', 200).length === 2 && peer.responses(callIds[0], 'OPTIONS', 200).length === 2);
      c = edge.counters();
      assert.equal(c.optionsAnswered, answered + 1);
      assert.equal(c.finishedTransactions, 3);
      assert.equal(c.finishedTransactionsEvicted, 3);
    });
  });
});
