import { strict as assert } from 'node:assert';
import v8 from 'node:v8';
import vm from 'node:vm';
import Srf from 'drachtio-srf';
import { compactDialog, own } from '../../../app/calls/dialog-memory';

// drachtio-srf's own message classes, as its agent builds them from the SIP server's messages.
const SipMessage = require('drachtio-srf/lib/sip-parser/message') as new (raw: string) => object;
const Request = require('drachtio-srf/lib/request') as new (msg: object, meta: object) => Record<string, unknown>;
const Response = require('drachtio-srf/lib/response') as new (agent: object) => Record<string, unknown>;
const DialogClass = Srf.Dialog as unknown as new (srf: object, type: 'uac' | 'uas', opts: object) => Srf.Dialog;

const SDP = (ip: string) => `v=0\r\no=- 1 1 IN IP4 ${ip}\r\ns=-\r\nc=IN IP4 ${ip}\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n`;

function sip(first: string, headers: string[], body: string): string {
  return `${first}\r\n${[...headers, 'Content-Type: application/sdp', `Content-Length: ${body.length}`].join('\r\n')}\r\n\r\n${body}`;
}

/** An outbound leg as drachtio-srf's createUAC leaves it: the INVITE sent and the 200 received. */
function uacDialog(i: number, pad = '', srf: FakeSrf = { _dialogs: new Map() }): Srf.Dialog {
  const common = [`Call-ID: call-${i}-abcdefghijklmnop@10.0.0.1`, `CSeq: 1 INVITE`, ...(pad ? [`X-Pad: ${pad}`] : [])];
  const invite = sip(`INVITE sip:+4930123${i}@10.0.0.2:5060 SIP/2.0`, [
    'Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-0123456789abcdef', `From: <sip:+4930999@10.0.0.1>;tag=local-tag-${i}-0123456789`,
    `To: <sip:+4930123${i}@10.0.0.2>`, '<sip:app@10.0.0.1:5060>'.replace(/^/, 'Contact: '), ...common,
  ], SDP('10.0.0.1'));
  const ok = sip('SIP/2.0 200 OK', [
    'Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-0123456789abcdef', `From: <sip:+4930999@10.0.0.1>;tag=local-tag-${i}-0123456789`,
    `To: <sip:+4930123${i}@10.0.0.2>;tag=remote-tag-${i}-0123456789`, `Contact: <sip:callee-${i}@10.0.0.2:5070;transport=udp>`, ...common,
  ], SDP('10.0.0.2'));
  const req = new Request(new SipMessage(invite), { source: 'application', address: '10.0.0.1', port: '5060', protocol: 'udp', time: '1', transactionId: `t-${i}` });
  req.socket = SOCKET;
  const res = new Response(AGENT);
  res.msg = new SipMessage(ok);
  // The agent cuts the dialog id out of the whole control message, SIP text and all.
  const control = `dialog-${i}-0123456789;uac|${ok}`;
  const dialogId = control.slice(0, control.indexOf('|'));
  res.meta = { source: 'network', address: '10.0.0.2', port: '5060', protocol: 'udp', time: '2', transactionId: `t-${i}`, dialogId };
  return register(srf, new DialogClass(srf, 'uac', { req, res }));
}

/** Srf's map of its dialogs by id (Srf#addDialog), the one thing of Srf a Dialog is kept in. */
interface FakeSrf { _dialogs: Map<string, Srf.Dialog> }
function register(srf: FakeSrf, d: Srf.Dialog): Srf.Dialog {
  srf._dialogs.set((d as unknown as { id: string }).id, d);
  return d;
}

/** The caller's leg as createUAS leaves it: the INVITE received, the 200 sent. */
function uasDialog(i: number): Srf.Dialog {
  const common = [`Call-ID: in-${i}-abcdefghijklmnop@10.0.0.9`, `CSeq: 7 INVITE`];
  const invite = sip(`INVITE sip:+4930555@10.0.0.1 SIP/2.0`, [
    'Via: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bK-fedcba9876543210', `From: <sip:+4930777@10.0.0.9>;tag=caller-tag-${i}-0123456789`,
    'To: <sip:+4930555@10.0.0.1>', `Contact: <sip:caller-${i}@10.0.0.9:5060>`, ...common,
  ], SDP('10.0.0.9'));
  const sent = new SipMessage(sip('SIP/2.0 200 OK', [
    `From: <sip:+4930777@10.0.0.9>;tag=caller-tag-${i}-0123456789`, `To: <sip:+4930555@10.0.0.1>;tag=our-tag-${i}-0123456789`,
    '<sip:tollgate@10.0.0.1:5060>'.replace(/^/, 'Contact: '), ...common,
  ], SDP('10.0.0.1')));
  const req = new Request(new SipMessage(invite), { source: 'network', address: '10.0.0.9', port: '5060', protocol: 'udp', time: '1', transactionId: `in-${i}` });
  req.socket = SOCKET;
  const res = new Response(AGENT);
  res.meta = { dialogId: `dialog-in-${i}-0123456789;uas` };
  res.req = req;
  const srf: FakeSrf = { _dialogs: new Map() };
  return register(srf, new DialogClass(srf, 'uas', { req, res, sent }));
}

const SOCKET = { name: 'the control socket' };
const AGENT = { name: 'the agent' };

/** What the Dialog reads of itself for in-dialog requests and for its id. */
function observable(d: Srf.Dialog): unknown {
  const x = d as unknown as Record<string, unknown> & { socket: unknown; id: string; dialogType: string; subscribeEvent: unknown };
  return { id: x.id, dialogType: x.dialogType, socket: x.socket, agent: x.agent, subscribeEvent: x.subscribeEvent, sip: { ...(x.sip as object) }, local: { ...(x.local as object) }, remote: { ...(x.remote as object) } };
}

describe('an answered call\'s dialogs, compacted (app/calls/dialog-memory.ts)', () => {
  it('a UAC and a UAS dialog read the same id, type, socket, agent, tags, URIs, contact and SDP after compaction', () => {
    for (const d of [uacDialog(1), uasDialog(2)]) {
      const before = observable(d);
      compactDialog(d);
      assert.deepEqual(observable(d), before);
      assert.equal((d as unknown as { socket: unknown }).socket, SOCKET, 'in-dialog requests still go out on the same socket');
      const kept = d as unknown as { req: Record<string, unknown>; res: Record<string, unknown> };
      assert.equal(kept.req.msg, undefined, 'the INVITE itself is not kept');
      assert.equal(kept.res.msg, undefined, 'nor the response');
      const srf = (d as unknown as { srf: FakeSrf }).srf;
      assert.equal(srf._dialogs.get((d as unknown as { id: string }).id), d, 'Srf still finds the dialog by its id');
      assert.equal(srf._dialogs.size, 1);
      compactDialog(d); // twice changes nothing
      assert.deepEqual(observable(d), before);
    }
    const sample = observable(uacDialog(3)) as { id: string; sip: object; local: { sdp: string }; remote: { uri: string } };
    assert.equal(sample.id, 'dialog-3-0123456789;uac');
    assert.deepEqual(sample.sip, { callId: 'call-3-abcdefghijklmnop@10.0.0.1', localTag: 'local-tag-3-0123456789', remoteTag: 'remote-tag-3-0123456789' });
    assert.equal(sample.remote.uri, 'sip:callee-3@10.0.0.2:5070;transport=udp');
    assert.match(sample.local.sdp, /c=IN IP4 10\.0\.0\.1/);
  });

  it('a compacted dialog no longer keeps its SIP messages alive (measured after full collections)', () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const live = () => { gc(); gc(); return process.memoryUsage().heapUsed; };
    const N = 200;
    const PAD = 20_000; // characters in each of the 2 messages of a dialog (3 with the control message the id is cut from)
    const srf: FakeSrf = { _dialogs: new Map() };
    const base = live();
    const dialogs = Array.from({ length: N }, (_, i) => uacDialog(i, 'x'.repeat(PAD), srf));
    const whole = (live() - base) / N;
    dialogs.forEach(compactDialog);
    const compact = (live() - base) / N;
    assert.ok(whole > 3 * PAD * 0.9, `as drachtio-srf keeps it, a dialog holds both messages: ${whole.toFixed(0)} B`);
    assert.ok(compact < 4000, `compacted: ${compact.toFixed(0)} B per dialog (was ${whole.toFixed(0)} B)`);
    assert.equal(dialogs.length, N); // the dialogs themselves stayed alive throughout
    assert.equal(srf._dialogs.size, N, 'and are all still found by id');
  });

  it('own() copies a string out of the one it was cut from, so the parent can be collected', () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const live = () => { gc(); gc(); return process.memoryUsage().heapUsed; };
    const N = 50;
    const base = live();
    const slices = Array.from({ length: N }, (_, i) => (`${i}:` + 'y'.repeat(100_000)).slice(0, 40));
    const sliced = (live() - base) / N;
    const owned = slices.map((s) => own(s));
    slices.length = 0;
    const copied = (live() - base) / N;
    assert.ok(sliced > 90_000, `a 40-character slice keeps its 100,000-character parent: ${sliced.toFixed(0)} B`);
    assert.ok(copied < 1000, `its own copy does not: ${copied.toFixed(0)} B`);
    assert.equal(owned[7], '7:' + 'y'.repeat(38));
    assert.equal(own(undefined), undefined);
  });
});
