import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import Srf from 'drachtio-srf';
import { silentLogger } from '../../lib/common/logger';
import { startEdge, type EdgeServer } from '../../lib/edge';
import { connectApp } from '../support/srf';

/** One SIP message read off a stream: start line, headers by lower-case name (all values), body. */
interface WireMessage { start: string; headers: Map<string, string[]>; body: string; raw: string }

/** Frames SIP messages off a TLS socket by Content-Length and hands them out in order. */
class SipStream {
  private buf = '';
  private queue: WireMessage[] = [];
  private waiters: Array<(m: WireMessage) => void> = [];
  constructor(readonly socket: tls.TLSSocket) {
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => { this.buf += d; this.drain(); });
  }
  private drain(): void {
    for (;;) {
      const end = this.buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = this.buf.slice(0, end);
      const length = Number(/^(?:content-length|l)\s*:\s*(\d+)/im.exec(head)?.[1] ?? 0);
      if (this.buf.length < end + 4 + length) return;
      const raw = this.buf.slice(0, end + 4 + length);
      this.buf = this.buf.slice(raw.length);
      const [start, ...lines] = head.split('\r\n');
      const headers = new Map<string, string[]>();
      for (const l of lines) {
        const i = l.indexOf(':');
        const name = l.slice(0, i).trim().toLowerCase();
        headers.set(name, [...(headers.get(name) ?? []), l.slice(i + 1).trim()]);
      }
      const m: WireMessage = { start, headers, body: raw.slice(end + 4), raw };
      const w = this.waiters.shift();
      if (w) w(m); else this.queue.push(m);
    }
  }
  /** The next message, or a rejection after `ms`. */
  next(ms = 5000): Promise<WireMessage> {
    const m = this.queue.shift();
    if (m) return Promise.resolve(m);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => { this.waiters = this.waiters.filter((x) => x !== got); reject(new Error(`no SIP message within ${ms} ms`)); }, ms);
      const got = (x: WireMessage) => { clearTimeout(t); resolve(x); };
      this.waiters.push(got);
    });
  }
  /** The next message whose start line matches, skipping others (100 Trying), bounded. */
  async nextMatching(re: RegExp, ms = 5000): Promise<WireMessage> {
    const deadline = Date.now() + ms;
    for (;;) {
      const m = await this.next(Math.max(1, deadline - Date.now()));
      if (re.test(m.start)) return m;
    }
  }
  send(text: string): void { this.socket.write(text, 'latin1'); }
}

const h = (m: WireMessage, name: string): string => (m.headers.get(name) ?? [])[0] ?? '';

function request(method: string, uri: string, port: number, opts: { callId: string; cseq: number; to?: string; body?: string; extra?: string[] }): string {
  const body = opts.body ?? '';
  return [
    `${method} ${uri} SIP/2.0`,
    `Via: SIP/2.0/TLS 127.0.0.1:${port};branch=z9hG4bK-${method}-${opts.cseq}-${opts.callId};rport`,
    'Max-Forwards: 70',
    `From: <sip:alice@127.0.0.1>;tag=a-${opts.callId}`,
    `To: ${opts.to ?? '<sip:bob@127.0.0.1>'}`,
    `Call-ID: ${opts.callId}`,
    `CSeq: ${opts.cseq} ${method}`,
    `Contact: <sip:alice@127.0.0.1:${port};transport=tls>`,
    ...(opts.extra ?? []),
    ...(body ? ['Content-Type: application/sdp'] : []),
    `Content-Length: ${Buffer.byteLength(body, 'latin1')}`,
    '', body,
  ].join('\r\n');
}

/** A response to `req` as a far end writes it: its Vias, From, Call-ID, CSeq; To with our tag. */
function response(req: WireMessage, status: string, toTag: string, extra: string[] = [], body = ''): string {
  return [
    `SIP/2.0 ${status}`,
    ...(req.headers.get('via') ?? []).map((v) => `Via: ${v}`),
    `From: ${h(req, 'from')}`,
    `To: ${h(req, 'to')}${/;tag=/.test(h(req, 'to')) ? '' : `;tag=${toTag}`}`,
    `Call-ID: ${h(req, 'call-id')}`,
    `CSeq: ${h(req, 'cseq')}`,
    ...extra,
    ...(body ? ['Content-Type: application/sdp'] : []),
    `Content-Length: ${Buffer.byteLength(body, 'latin1')}`,
    '', body,
  ].join('\r\n');
}

function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const poll = () => {
      if (cond()) { resolve(); return; }
      if (Date.now() > deadline) { reject(new Error(`timed out waiting for ${what}`)); return; }
      setTimeout(poll, 20);
    };
    poll();
  });
}

const SDP = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n';

describe('edge: TLS transport (sips:, transport=tls, certificates from files)', function () {
  this.timeout(30_000);
  let dir: string;
  let certFile: string;
  let keyFile: string;
  let edge: EdgeServer;
  let tlsPort: number;
  let srf: Srf;
  const clients: tls.TLSSocket[] = [];
  const servers: tls.Server[] = [];

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'edge-tls-'));
    certFile = path.join(dir, 'cert.pem');
    keyFile = path.join(dir, 'key.pem');
    // Self-signed, naming the loopback address (an IP is checked against subjectAltName, not CN).
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-days', '1',
      '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', keyFile, '-out', certFile], { stdio: 'ignore', timeout: 20_000 });
    edge = await startEdge({
      sip: [
        { transport: 'udp', address: '127.0.0.1', port: 0 },
        { transport: 'tls', address: '127.0.0.1', port: 0, certFile, keyFile, caFile: certFile },
      ],
      control: { address: '127.0.0.1', port: 0, secret: 's' },
      timers: { t1: 100, t2: 400, t4: 500 },
    }, silentLogger());
    tlsPort = edge.sipAddresses.find((a) => a.transport === 'tls')?.port ?? 0;
    assert.ok(tlsPort > 0, 'a TLS listener is bound');
    srf = new Srf();
    await connectApp(srf, edge.controlPort, 's');
  });
  after(async () => {
    for (const c of clients) c.destroy();
    for (const s of servers) s.close();
    srf.disconnect();
    await edge.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function connectClient(): Promise<SipStream> {
    const socket = tls.connect({ host: '127.0.0.1', port: tlsPort, ca: fs.readFileSync(certFile) });
    clients.push(socket);
    await new Promise<void>((resolve, reject) => { socket.once('secureConnect', resolve); socket.once('error', reject); });
    assert.ok(socket.authorized, `the edge's certificate verifies: ${String(socket.authorizationError)}`);
    return new SipStream(socket);
  }

  /** A far end listening on TLS with the same certificate; each accepted connection is handed out. */
  async function farEnd(): Promise<{ port: number; next: () => Promise<SipStream>; accepted: () => number }> {
    const streams: SipStream[] = [];
    let count = 0;
    const server = tls.createServer({ cert: fs.readFileSync(certFile), key: fs.readFileSync(keyFile) }, (socket) => {
      count++;
      streams.push(new SipStream(socket));
    });
    server.on('tlsClientError', () => undefined);
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    return {
      port,
      accepted: () => count,
      next: async () => { await until(() => streams.length > 0, 5000, 'a TLS connection from the edge'); return streams.shift() as SipStream; },
    };
  }

  it('answers an OPTIONS over TLS on the same connection, its Via kept as SIP/2.0/TLS', async () => {
    const s = await connectClient();
    s.send(request('OPTIONS', `sip:127.0.0.1:${tlsPort};transport=tls`, s.socket.localPort ?? 0, { callId: 'tls-options', cseq: 1 }));
    const res = await s.next();
    assert.equal(res.start, 'SIP/2.0 200 OK');
    assert.match(h(res, 'via'), /^SIP\/2\.0\/TLS 127\.0\.0\.1:\d+;branch=z9hG4bK-OPTIONS-1-tls-options/);
    assert.equal(h(res, 'call-id'), 'tls-options');
  });

  it('gives an INVITE over TLS to the app (createUAS); the 200 has Contact with transport=tls; ACK and BYE on the connection', async () => {
    let ended = false;
    let uasSawTransport = '';
    srf.invite((req, res) => {
      uasSawTransport = String((req as unknown as { protocol?: string }).protocol ?? '');
      srf.createUAS(req, res, { localSdp: SDP, headers: { Contact: 'sip:app@localhost' } }).then((dialog) => {
        dialog.on('destroy', () => { ended = true; });
      }, () => undefined);
    });
    const s = await connectClient();
    const port = s.socket.localPort ?? 0;
    s.send(request('INVITE', `sips:bob@127.0.0.1:${tlsPort}`, port, { callId: 'tls-uas', cseq: 1, body: SDP }));
    const ok = await s.nextMatching(/^SIP\/2\.0 200/);
    assert.match(h(ok, 'contact'), new RegExp(`^<sip:app@127\\.0\\.0\\.1:${tlsPort};transport=tls>`));
    assert.match(h(ok, 'via'), /^SIP\/2\.0\/TLS /);
    assert.match(ok.body, /^v=0/);
    assert.match(uasSawTransport, /tls/i);
    const to = h(ok, 'to');
    s.send(request('ACK', `sip:app@127.0.0.1:${tlsPort};transport=tls`, port, { callId: 'tls-uas', cseq: 1, to }));
    s.send(request('BYE', `sip:app@127.0.0.1:${tlsPort};transport=tls`, port, { callId: 'tls-uas', cseq: 2, to }));
    const byeOk = await s.nextMatching(/^SIP\/2\.0 \d+/);
    assert.equal(byeOk.start, 'SIP/2.0 200 OK');
    assert.match(h(byeOk, 'cseq'), /^2 BYE/);
    await until(() => ended, 5000, 'the app to see the BYE');
  });

  for (const [label, uriOf] of [
    ['a ;transport=tls URI', (p: number) => `sip:bob@127.0.0.1:${p};transport=tls`],
    ['a sips: URI', (p: number) => `sips:bob@127.0.0.1:${p}`],
  ] as const) {
    it(`sends the app's createUAC to ${label} over TLS (the far end verified by caFile), ACK and BYE follow`, async () => {
      const far = await farEnd();
      const call = srf.createUAC(uriOf(far.port), { localSdp: SDP });
      const s = await far.next();
      const invite = await s.nextMatching(/^INVITE /);
      assert.match(h(invite, 'via'), new RegExp(`^SIP/2\\.0/TLS 127\\.0\\.0\\.1:${tlsPort};branch=z9hG4bK`));
      assert.match(h(invite, 'contact'), new RegExp(`127\\.0\\.0\\.1:${tlsPort};transport=tls>`));
      s.send(response(invite, '200 OK', 'far', [`Contact: <sip:bob@127.0.0.1:${far.port};transport=tls>`], SDP));
      const dialog = await call;
      const ack = await s.nextMatching(/^ACK /);
      assert.match(ack.start, new RegExp(`^ACK sip:bob@127\\.0\\.0\\.1:${far.port};transport=tls SIP/2\\.0`));
      const ended = dialog.destroy();
      const bye = await s.nextMatching(/^BYE /);
      assert.match(h(bye, 'via'), /^SIP\/2\.0\/TLS /);
      s.send(response(bye, '200 OK', 'far'));
      await ended;
      assert.equal(far.accepted(), 1, 'one connection carried the whole call');
    });
  }

  it('refuses a far end whose certificate does not verify (no caFile, rejectUnauthorized default): the INVITE never goes out', async () => {
    const strict = await startEdge({
      sip: [{ transport: 'tls', address: '127.0.0.1', port: 0, certFile, keyFile }],
      control: { address: '127.0.0.1', port: 0, secret: 's' },
      timers: { t1: 100, t2: 400, t4: 500 },
    }, silentLogger());
    const app = new Srf();
    try {
      await connectApp(app, strict.controlPort, 's');
      const far = await farEnd();
      const err = await app.createUAC(`sip:bob@127.0.0.1:${far.port};transport=tls`, { localSdp: SDP }).then(
        () => assert.fail('the call was answered'),
        (e: { status?: number }) => e,
      );
      assert.equal(err.status, 503);
      assert.ok(strict.counters().sendErrors >= 1, 'the failed handshake is counted');
    } finally {
      app.disconnect();
      await strict.close();
    }
  });

  it('with rejectUnauthorized: false, the same unverifiable far end is reached', async () => {
    const lax = await startEdge({
      sip: [{ transport: 'tls', address: '127.0.0.1', port: 0, certFile, keyFile, rejectUnauthorized: false }],
      control: { address: '127.0.0.1', port: 0, secret: 's' },
      timers: { t1: 100, t2: 400, t4: 500 },
    }, silentLogger());
    const app = new Srf();
    try {
      await connectApp(app, lax.controlPort, 's');
      const far = await farEnd();
      const call = app.createUAC(`sip:bob@127.0.0.1:${far.port};transport=tls`, { localSdp: SDP });
      const s = await far.next();
      const invite = await s.nextMatching(/^INVITE /);
      s.send(response(invite, '486 Busy Here', 'far'));
      const err = await call.then(() => assert.fail('answered'), (e: { status?: number }) => e);
      assert.equal(err.status, 486);
      await s.nextMatching(/^ACK /);
    } finally {
      app.disconnect();
      await lax.close();
    }
  });
});
