import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import path from 'node:path';
import Srf from 'drachtio-srf';
import { silentLogger } from '../../lib/common/logger';
import { startEdge, type EdgeServer } from '../../lib/edge';
import { parseMessage } from '../../lib/edge/message/parser';
import { runSipp, startSipp, type SippProcess, type SippResult } from '../support/sipp';
import { connectApp } from '../support/srf';

const SCEN = path.resolve(__dirname, '../../../scenarios/edge');
const scenario = (name: string) => ({ file: path.join(SCEN, name) });
type Transport = 'udp' | 'tcp';

/** What drachtio-srf's proxyRequest resolves to. */
interface ProxyResult { connected: boolean; finalStatus: number; responses: Array<{ address: string; port: number; msgs: Array<{ status: number }> }> }
type ProxyOptions = { forking?: 'simultaneous' | 'sequential'; recordRoute?: boolean; followRedirects?: boolean; provisionalTimeout?: string };

function ok(r: SippResult, label: string): void {
  assert.equal(r.exitCode, 0, `${label}: SIPp exit ${r.exitCode}\n${r.stderr.slice(-1500)}`);
  assert.equal(r.stats.failed, 0, `${label}: failed calls`);
  assert.ok(r.stats.successful >= 1, `${label}: no successful call`);
}

describe('SIP edge as a stateful proxy: drachtio-srf proxyRequest, SIPp callers and callees', function () {
  this.timeout(60_000);
  let edge: EdgeServer;
  let srf: Srf;
  let proxy: (req: Srf.SrfRequest) => void = () => undefined;
  const results: Array<ProxyResult | Error> = [];
  const port = (tp: Transport) => (edge.sipAddresses.find((a) => a.transport === tp) as { port: number }).port;
  const callees: SippProcess[] = [];

  /** The app proxies every INVITE to `destinations` and keeps what proxyRequest resolved to. */
  function proxyTo(destinations: string[], opts: ProxyOptions): void {
    proxy = (req) => {
      (srf as unknown as { proxyRequest(r: Srf.SrfRequest, d: string[], o: ProxyOptions): Promise<ProxyResult> })
        .proxyRequest(req, destinations, opts).then((r) => results.push(r), (e: Error) => results.push(e));
    };
  }
  async function callee(file: string, tp: Transport = 'udp'): Promise<SippProcess> {
    const c = await startSipp({ scenario: scenario(file), transport: tp, timeoutMs: 20_000 });
    callees.push(c);
    return c;
  }
  const dest = (c: SippProcess, tp: Transport = 'udp') => `sip:callee@127.0.0.1:${c.localPort}${tp === 'tcp' ? ';transport=tcp' : ''}`;
  async function until(cond: () => boolean, ms = 8000): Promise<void> {
    const end = Date.now() + ms;
    while (!cond()) { if (Date.now() > end) throw new Error('condition not reached in time'); await new Promise((r) => setTimeout(r, 20)); }
  }
  const lastResult = async (): Promise<ProxyResult> => {
    await until(() => results.length > 0);
    const r = results[results.length - 1];
    if (r instanceof Error || typeof r === 'string') throw new Error(`proxyRequest failed: ${String(r)}`);
    return r;
  };

  before(async () => {
    edge = await startEdge({
      sip: [{ transport: 'udp', address: '127.0.0.1', port: 0 }, { transport: 'tcp', address: '127.0.0.1', port: 0 }],
      control: { address: '127.0.0.1', port: 0, secret: 'proxy' },
      timers: { t1: 50, t2: 400, t4: 500 },
    }, silentLogger());
    srf = new Srf();
    srf.invite((req) => proxy(req));
    await connectApp(srf, edge.controlPort, 'proxy');
  });
  afterEach(async () => {
    results.length = 0;
    for (const c of callees.splice(0)) await c.stop();
  });
  after(async () => { srf.disconnect(); await edge.close(); });

  for (const tp of ['udp', 'tcp'] as const) {
    it(`over ${tp.toUpperCase()}, record-routed: the callee answers, ACK and BYE go through the edge, the app is told connected`, async () => {
      const c = await callee('uas-answer-rr.xml', tp);
      proxyTo([dest(c, tp)], { recordRoute: true });
      ok(await runSipp({ scenario: scenario('uac-proxy-rr.xml'), transport: tp, target: `127.0.0.1:${port(tp)}`, calls: 1, timeoutMs: 15_000 }), 'caller');
      ok(await c.stop(), 'callee');
      const r = await lastResult();
      assert.equal(r.connected, true);
      assert.equal(r.finalStatus, 200);
      assert.equal(edge.counters().liveDialogs, 0, 'a proxy keeps no dialog');
    });
  }

  it('without record-route the dialog runs end to end: the caller ACKs and BYEs the callee directly', async () => {
    const sockets = await Promise.all([0, 1].map(async () => {
      const sock = dgram.createSocket('udp4');
      await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
      const got: Array<{ msg: ReturnType<typeof parseMessage>; from: number }> = [];
      sock.on('message', (d, rinfo) => { try { got.push({ msg: parseMessage(d), from: rinfo.port }); } catch { /* ignore */ } });
      return { sock, got, port: sock.address().port };
    }));
    const [caller, callee] = sockets;
    const reply = (m: ReturnType<typeof parseMessage>, status: number, extra: string[]) => Buffer.from([`SIP/2.0 ${status} OK`,
      ...m.getAll('via').map((v) => `Via: ${v}`), `From: ${m.get('from')}`, `To: ${m.get('to')}${/tag=/.test(m.get('to') ?? '') ? '' : ';tag=callee1'}`,
      `Call-ID: ${m.get('call-id')}`, `CSeq: ${m.get('cseq')}`, ...extra, 'Content-Length: 0', '', ''].join('\r\n'));
    callee.sock.on('message', (d, rinfo) => {
      const m = parseMessage(d);
      if (!m.isRequest || m.method === 'ACK') return;
      callee.sock.send(reply(m, 200, m.method === 'INVITE' ? [`Contact: <sip:callee@127.0.0.1:${callee.port}>`] : []), rinfo.port, '127.0.0.1');
    });
    const me = `127.0.0.1:${caller.port}`;
    const request = (method: string, uri: string, cseq: number, toTag = '') => Buffer.from([`${method} ${uri} SIP/2.0`,
      `Via: SIP/2.0/UDP ${me};branch=z9hG4bKdirect${method}${cseq};rport`, 'Max-Forwards: 70', `From: <sip:caller@${me}>;tag=c1`,
      `To: <sip:callee@127.0.0.1>${toTag}`, 'Call-ID: direct-1@test', `CSeq: ${cseq} ${method}`, `Contact: <sip:caller@${me}>`, 'Content-Length: 0', '', ''].join('\r\n'));
    proxyTo([`sip:callee@127.0.0.1:${callee.port}`], {});
    try {
      caller.sock.send(request('INVITE', `sip:callee@127.0.0.1:${port('udp')}`, 1), port('udp'), '127.0.0.1');
      await until(() => caller.got.some((g) => !g.msg.isRequest && g.msg.status === 200));
      const ok200 = (caller.got.find((g) => !g.msg.isRequest && g.msg.status === 200) as { msg: ReturnType<typeof parseMessage> }).msg;
      assert.equal(ok200.getAll('via').length, 1, 'the edge took its Via off');
      assert.equal(ok200.get('record-route'), undefined);
      const before = edge.counters().messagesIn;
      caller.sock.send(request('ACK', `sip:callee@127.0.0.1:${callee.port}`, 1, ';tag=callee1'), callee.port, '127.0.0.1');
      caller.sock.send(request('BYE', `sip:callee@127.0.0.1:${callee.port}`, 2, ';tag=callee1'), callee.port, '127.0.0.1');
      await until(() => caller.got.some((g) => !g.msg.isRequest && g.msg.status === 200 && (g.msg.get('cseq') ?? '').includes('BYE')));
      assert.ok(callee.got.some((g) => g.msg.isRequest && g.msg.method === 'ACK' && g.from === caller.port));
      assert.equal(edge.counters().messagesIn, before, 'ACK and BYE went around the edge');
    } finally { for (const x of sockets) x.sock.close(); }
    assert.equal((await lastResult()).finalStatus, 200);
  });

  it('serial forking: the first destination is busy, the second answers; the app sees both finals', async () => {
    const busy = await callee('uas-busy.xml');
    const answer = await callee('uas-answer-rr.xml');
    proxyTo([dest(busy), dest(answer)], { recordRoute: true });
    ok(await runSipp({ scenario: scenario('uac-proxy-rr.xml'), transport: 'udp', target: `127.0.0.1:${port('udp')}`, calls: 1, timeoutMs: 15_000 }), 'caller');
    ok(await busy.stop(), 'busy callee');
    ok(await answer.stop(), 'answering callee');
    const r = await lastResult();
    assert.equal(r.connected, true);
    assert.deepEqual(r.responses.flatMap((x) => x.msgs.map((m) => m.status)), [486, 200]);
  });

  it('simultaneous forking: one rings, the other answers; the ringing one is cancelled', async () => {
    const ringing = await callee('uas-ring-cancel.xml');
    const answer = await callee('uas-answer-rr.xml');
    proxyTo([dest(ringing), dest(answer)], { recordRoute: true, forking: 'simultaneous' });
    ok(await runSipp({ scenario: scenario('uac-proxy-rr.xml'), transport: 'udp', target: `127.0.0.1:${port('udp')}`, calls: 1, timeoutMs: 15_000 }), 'caller');
    ok(await answer.stop(), 'answering callee');
    await until(() => edge.counters().liveClientTransactions === 0);
    ok(await ringing.stop(), 'cancelled callee');
    assert.equal((await lastResult()).finalStatus, 200);
  });

  it('every destination fails: the caller gets the best final response (486 over 503 per RFC 3261 §16.7)', async () => {
    const busy = await callee('uas-busy.xml');
    const closed = `sip:callee@127.0.0.1:${port('udp')};transport=tls`;   // cannot be sent: counts as 503
    proxyTo([closed, dest(busy)], {});
    ok(await runSipp({ scenario: scenario('uac-expect-486.xml'), transport: 'udp', target: `127.0.0.1:${port('udp')}`, calls: 1, timeoutMs: 15_000 }), 'caller');
    ok(await busy.stop(), 'busy callee');
    const r = await lastResult();
    assert.equal(r.connected, false);
    assert.equal(r.finalStatus, 486);
  });

  it("the caller's CANCEL is proxied: the callee gets CANCEL, the caller 487", async () => {
    const ringing = await callee('uas-ring-cancel.xml');
    proxyTo([dest(ringing)], {});
    ok(await runSipp({ scenario: scenario('uac-cancel.xml'), transport: 'udp', target: `127.0.0.1:${port('udp')}`, calls: 1, timeoutMs: 15_000 }), 'caller');
    await until(() => edge.counters().liveClientTransactions === 0);
    ok(await ringing.stop(), 'callee');
    await until(() => results.length > 0);
  });

  it('followRedirects: a 302 is followed to its Contact, which answers', async () => {
    const answer = await callee('uas-answer-rr.xml');
    const redirector = dgram.createSocket('udp4');
    await new Promise<void>((r) => redirector.bind(0, '127.0.0.1', () => r()));
    redirector.on('message', (d) => {
      const m = parseMessage(d);
      if (!m.isRequest || m.method !== 'INVITE') return;
      redirector.send(Buffer.from([`SIP/2.0 302 Moved Temporarily`, ...m.getAll('via').map((v) => `Via: ${v}`), `From: ${m.get('from')}`,
        `To: ${m.get('to')};tag=redir`, `Call-ID: ${m.get('call-id')}`, `CSeq: ${m.get('cseq')}`,
        `Contact: <${dest(answer)}>`, 'Content-Length: 0', '', ''].join('\r\n')), port('udp'), '127.0.0.1');
    });
    try {
      proxyTo([`sip:callee@127.0.0.1:${redirector.address().port}`], { recordRoute: true, followRedirects: true });
      ok(await runSipp({ scenario: scenario('uac-proxy-rr.xml'), transport: 'udp', target: `127.0.0.1:${port('udp')}`, calls: 1, timeoutMs: 15_000 }), 'caller');
      ok(await answer.stop(), 'callee at the redirected Contact');
    } finally { redirector.close(); }
    const r = await lastResult();
    assert.deepEqual(r.responses.flatMap((x) => x.msgs.map((m) => m.status)), [302, 200]);
  });

  it('a proxy attempt that cannot send anything answers the caller 500 and the app gets the error', async () => {
    proxyTo([`sip:callee@127.0.0.1:${port('udp')};transport=tls`], {});
    ok(await runSipp({ scenario: scenario('uac-expect-500.xml'), transport: 'udp', target: `127.0.0.1:${port('udp')}`, calls: 1, timeoutMs: 15_000 }), 'caller');
    await until(() => results.length > 0);
    assert.match(String(results[0]), /error proxying request/);
  });
});
