import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import Srf from 'drachtio-srf';
import { silentLogger } from '../../lib/common/logger';
import { startEdge, type EdgeServer } from '../../lib/edge';
import { runSipp } from '../support/sipp';

/** Deterministic PRNG so a failing run can be replayed. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => { s = (s * 1664525 + 1013904223) >>> 0; return s / 0x100000000; };
}

const BASES = [
  'INVITE sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-fz{n};rport\r\nFrom: "A \\"x\\"" <sip:a@127.0.0.1>;tag=a{n}\r\nTo: <sip:bob@127.0.0.1>\r\nCall-ID: fz{n}\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContact: <sip:a@127.0.0.1:5999>\r\nContent-Type: application/sdp\r\nContent-Length: 28\r\n\r\nv=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n',
  'BYE sip:bob@[::1]:5060 SIP/2.0\r\nv: SIP/2.0/TCP [::1]:5999;branch=z9hG4bK-fz{n}\r\nf: <sip:a@h>;tag=1\r\nt: <tel:+4930123>;tag=2\r\ni: fz{n}\r\nCSeq: 2 BYE\r\nl: 0\r\n\r\n',
  'SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-none{n}\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:b@h>;tag=2\r\nCall-ID: fz{n}\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n',
  'OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-fz{n}\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:b@h>\r\nCall-ID: fz{n}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nAccept: application/sdp,\r\n text/plain\r\nContent-Length: 0\r\n\r\n',
];

function mutate(rnd: () => number, n: number): Buffer {
  const base = Buffer.from(BASES[Math.floor(rnd() * BASES.length)].replace(/\{n\}/g, String(n)), 'utf8');
  const kind = Math.floor(rnd() * 10);
  const b = Buffer.from(base);
  switch (kind) {
    case 0: for (let i = 0; i < 1 + rnd() * 8; i++) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256); return b;
    case 1: return b.subarray(0, Math.floor(rnd() * b.length));                       // truncated
    case 2: return Buffer.from(Array.from({ length: 1 + Math.floor(rnd() * 2000) }, () => Math.floor(rnd() * 256))); // binary
    case 3: return Buffer.from(base.toString().replace(/Content-Length: \d+|l: \d+/, `Content-Length: ${Math.floor(rnd() * 100000)}`));
    case 4: return Buffer.from(base.toString().replace(/\r\n(Call-ID|i|CSeq|Via|v|From|f|To|t):[^\r]*/, ''));   // mandatory header missing
    case 5: return Buffer.concat([b, Buffer.alloc(70000, 0x41)]);                      // oversized
    case 6: return Buffer.from(base.toString().replace(/^[A-Z]+/, 'FROB').replace(/CSeq: (\d+) [A-Z]+/, 'CSeq: $1 FROB')); // unknown method
    case 7: return Buffer.from(base.toString().replace('\r\n', '\r\n' + 'X-H: y\r\n'.repeat(200)));  // too many headers
    case 8: return Buffer.from(base.toString().replace(/<sip:[^>]*>/, '<sip:[::1>').replace('SIP/2.0\r', 'SIP/7.0\r'));
    default: { const s = base.toString(); const i = Math.floor(rnd() * s.length); return Buffer.from(s.slice(0, i) + s.slice(i).replace(/[:;<>"]/, '')); }
  }
}

describe('SIP edge under malformed input', function () {
  this.timeout(120000);
  let edge: EdgeServer;
  let srf: Srf;
  let answer = false;

  before(async () => {
    edge = await startEdge({
      sip: [{ transport: 'udp', address: '127.0.0.1', port: 0 }, { transport: 'tcp', address: '127.0.0.1', port: 0 }],
      control: { address: '127.0.0.1', port: 0, secret: 'fuzz' }, timers: { t1: 20, t2: 100, t4: 100 },
      limits: { stalledConnectionMs: 500 },
    }, silentLogger());
    srf = new Srf();
    srf.invite((req, res) => { if (answer) void srf.createUAS(req, res, { localSdp: req.body }); else res.send(486); });
    await new Promise<void>((resolve, reject) => {
      srf.on('connect', (err) => (err ? reject(err) : resolve()));
      srf.connect({ host: '127.0.0.1', port: edge.controlPort, secret: 'fuzz' } as Srf.SrfConfig);
    });
  });
  after(async () => { srf.disconnect(); await edge.close(); });

  const port = (tp: 'udp' | 'tcp') => (edge.sipAddresses.find((a) => a.transport === tp) as { port: number }).port;

  it('answers or drops tens of thousands of mutated UDP and TCP messages, then still connects a normal call', async () => {
    const rnd = prng(4475);
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    let replies = 0;
    sock.on('message', () => { replies++; });
    const UDP_COUNT = 30000;
    // paced: at most 1000 datagrams ahead of what the edge has read, so a loaded machine's kernel
    // does not drop them from the socket buffer (each wait bounded)
    const handled = () => { const c = edge.counters(); return c.messagesIn + c.badMessages; };
    const base = handled();
    let accepted = 0;   // datagrams the kernel took (one over 64 KB is refused at send)
    for (let i = 0; i < UDP_COUNT; i++) {
      sock.send(mutate(rnd, i), port('udp'), '127.0.0.1', (err) => { if (!err) accepted++; });
      if (i % 200 === 0) {
        const deadline = Date.now() + 2000;
        do await new Promise((r) => setImmediate(r)); while (handled() - base < accepted - 1000 && Date.now() < deadline);
      }
    }
    // TCP: batches of mutated messages per connection; the edge closes a connection it cannot resynchronise
    const TCP_CONNS = 200;
    const PER_CONN = 50;
    for (let c = 0; c < TCP_CONNS; c++) {
      await new Promise<void>((resolve) => {
        const s = net.connect(port('tcp'), '127.0.0.1', () => {
          for (let i = 0; i < PER_CONN; i++) s.write(mutate(rnd, c * PER_CONN + i));
          if (c % 20 === 0) s.write('INVITE sip:half@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bKh\r\n'); // stalls
          setTimeout(() => s.destroy(), 5);
        });
        s.on('data', () => undefined);
        s.on('error', () => undefined);
        s.on('close', () => resolve());
      });
    }
    await new Promise((r) => setTimeout(r, 1000));
    sock.close();
    const counters = edge.counters();
    assert.ok(counters.badMessages > 10000, `bad messages counted: ${counters.badMessages}`);
    assert.ok(replies > 1000, `400/413/501/481 answers sent: ${replies}`);
    answer = true;
    for (const tp of ['udp', 'tcp'] as const) {
      const r = await runSipp({ scenario: 'uac', transport: tp, target: `127.0.0.1:${port(tp)}`, calls: 3, rate: 10, timeoutMs: 20000 });
      assert.equal(r.exitCode, 0, r.stderr.slice(-1000));
      assert.equal(r.stats.successful, 3);
    }
  });

  it('closes a TCP connection that sends half a message and stalls, and keeps serving others', async () => {
    const s = net.connect(port('tcp'), '127.0.0.1');
    await new Promise<void>((r) => s.on('connect', () => r()));
    s.write('OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bKstall\r\nContent-Length: 10\r\n\r\nabc');
    const closedIn = await new Promise<number>((resolve) => { const t0 = Date.now(); s.on('close', () => resolve(Date.now() - t0)); s.on('error', () => undefined); });
    assert.ok(closedIn < 3000, `closed after ${closedIn} ms`);
    const r = await runSipp({ scenario: 'uac', transport: 'tcp', target: `127.0.0.1:${port('tcp')}`, calls: 1, timeoutMs: 15000 });
    assert.equal(r.exitCode, 0);
  });
});
