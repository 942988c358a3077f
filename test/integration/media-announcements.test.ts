import { strict as assert } from 'node:assert';
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseMoney } from '../../lib/common/money';
import { openDatabaseUrl, type Database } from '../../lib/db/database';
import { PEOPLE, POOR_BALANCE, PREFIX_OF, PRICE_PER_SECOND, seedCallWorld, type FarEnd } from '../support/call-fixture';
import { cdrOf, checkBooks, farEndTime, ledgerCharge, placeCall, startFarEnd, type FarEndProcess } from '../support/calls';
import { testDatabaseUrl } from '../support/mariadb';
import { startProduct, type Product } from '../support/product';
import { runSipp, type SippResult } from '../support/sipp';

/**
 * Announcements through the edge with SIPp callers and far ends.
 *
 * - Against a real FreeSWITCH, named by TOLLGATE_TEST_FREESWITCH="host:eslport:secret:sipaddr"
 *   (its event socket, and the address of its drachtio_mrf sofia profile; see app/media/README.md):
 *   the caller receives audio before the 402, the warning reaches the caller at the right second,
 *   and the books are exact. Without it these are skipped, and say why.
 * - Without any media server (an event socket nobody listens on): calls behave as without media,
 *   the fallback is counted and /ready says degraded. This part always runs.
 *
 * Audio is checked by the test itself: the caller's SDP points at a UDP socket of the test, which
 * records each RTP packet's arrival and whether its PCMU payload is silence.
 */

const national = (prefix: string, rest = '1234567') => `0${prefix.slice(2)}${rest}`;
const FAR_ENDS: Record<FarEnd, string> = {
  answer: 'uas-answer.xml', busy: 'uas-busy.xml', failing: 'uas-unavailable-503.xml', silent: 'uas-ring-no-answer.xml',
  timing: 'uas-answer.xml', hangup: 'uas-answer-then-hangup.xml', vanish: 'uas-answer-then-vanish.xml',
};

/** 1 s of 440 Hz, and 0.5 s of 880 Hz: tones need no sound files on the media server. */
const NO_CREDIT_TONE = '%(1000,0,440)';
const WARNING_TONE = '%(500,0,880)';
const WARNING_SECONDS_BEFORE = 2;

interface RtpPacket { at: number; audible: boolean }

/** A UDP socket standing in for the caller's phone: what audio arrived, and when. */
async function rtpSink(): Promise<{ port: number; packets: RtpPacket[]; close(): void }> {
  const socket = dgram.createSocket('udp4');
  const packets: RtpPacket[] = [];
  socket.on('message', (msg) => {
    if (msg.length <= 12) return;
    const payload = msg.subarray(12);
    // PCMU silence is 0xFF/0x7F (and their neighbours); a tone is mostly other bytes.
    let loud = 0;
    for (const b of payload) if ((b & 0x7f) < 0x7e) loud++;
    packets.push({ at: Date.now(), audible: loud > payload.length / 2 });
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  return { port: socket.address().port, packets, close: () => socket.close() };
}

const SDP = `v=0
o=user1 53655765 2353687637 IN IP4 127.0.0.1
s=-
c=IN IP4 127.0.0.1
t=0 0
m=audio [rtpport] RTP/AVP 0
a=rtpmap:0 PCMU/8000
a=sendrecv`;

const INVITE = `INVITE sip:[field1]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
From: <sip:[field0]@[local_ip]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[field1]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:[field0]@[local_ip]:[local_port];transport=[transport]>
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

${SDP}`;

const stamp = (event: string) => `<action><gettimeofday assign_to="s,us"/><log message="${event} [call_id] [$s].[$us]"/></action>`;
const reason = '<action><ereg regexp=".*" search_in="hdr" header="Reason:" assign_to="reason"/><log message="REASON [call_id] [$reason]"/></action>';

/** The caller hears early media (183 with SDP), then is refused with 402. */
const EARLY_MEDIA_THEN_402 = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="caller: early media, then 402">
  <nop><action><log message="CALLID [call_id]"/></action></nop>
  <send retrans="500"><![CDATA[
${INVITE}
]]></send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183">${stamp('EARLY')}</recv>
  <recv response="402">${stamp('FINAL')}${reason}</recv>
  <send><![CDATA[
ACK sip:[field1]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch-5];rport
From: <sip:[field0]@[local_ip]>;tag=[pid]SIPpTag00[call_number]
[last_To:]
Call-ID: [call_id]
CSeq: 1 ACK
Contact: <sip:[field0]@[local_ip]:[local_port];transport=[transport]>
Max-Forwards: 70
Content-Length: 0

]]></send>
</scenario>`;

/** The caller is answered and waits for the cut-off BYE. */
const ANSWERED_UNTIL_BYE = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="caller: answered, waits for BYE">
  <nop><action><log message="CALLID [call_id]"/></action></nop>
  <send retrans="500"><![CDATA[
${INVITE}
]]></send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200">${stamp('ANSWERED')}</recv>
  <send><![CDATA[
ACK sip:[field1]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
From: <sip:[field0]@[local_ip]>;tag=[pid]SIPpTag00[call_number]
[last_To:]
Call-ID: [call_id]
CSeq: 1 ACK
Contact: <sip:[field0]@[local_ip]:[local_port];transport=[transport]>
Max-Forwards: 70
Content-Length: 0

]]></send>
  <recv request="BYE">${stamp('BYE')}${reason}</recv>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
</scenario>`;

interface MediaCallRun { result: SippResult; log: string[]; sipCallId: string | undefined; at(event: string): number | undefined; reason: string | undefined }

/** One SIPp caller whose SDP points at the test's RTP socket. */
async function callWithAudio(scenarioXml: string, caller: string, dialled: string, sipPort: number, rtpPort: number): Promise<MediaCallRun> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tg-media-caller-'));
  try {
    const scenario = path.join(dir, 'caller.xml');
    fs.writeFileSync(scenario, scenarioXml);
    const csv = path.join(dir, 'callers.csv');
    fs.writeFileSync(csv, `SEQUENTIAL\n${caller};${dialled};\n`);
    const logFile = path.join(dir, 'messages.log');
    const result = await runSipp({
      scenario: { file: scenario }, transport: 'udp', target: `127.0.0.1:${sipPort}`, calls: 1, injection: csv, timeoutMs: 30_000,
      vars: { rtpport: String(rtpPort) }, extraArgs: ['-trace_logs', '-log_file', logFile, '-recv_timeout', '30000'],
    });
    const log = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').split('\n').filter(Boolean) : [];
    return {
      result, log, sipCallId: log.map((l) => /^CALLID (\S+)/.exec(l)?.[1]).find(Boolean),
      at: (event) => farEndTime(log, event),
      reason: log.map((l) => /^REASON \S+ (.*)$/.exec(l)?.[1]).find((r) => r !== undefined && r !== ''),
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function adminGet(product: Product, url: string): Promise<{ status: number; text: string }> {
  const r = await fetch(`http://127.0.0.1:${product.adminPort}${url}`, { headers: { Authorization: `Bearer ${product.adminToken}` } });
  return { status: r.status, text: await r.text() };
}

function metricValue(text: string, name: string, labels = ''): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ''} `));
  return line ? Number(line.split(' ').pop()) : 0;
}

/** A loopback port with nobody behind it: a media server that is not there. */
async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', () => resolve()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

const MEDIA_RULES = {
  select: { accountKinds: ['prepaid'] },
  noCredit: { mode: 'early', prompt: [{ tone: NO_CREDIT_TONE }] },
  warning: { secondsBefore: WARNING_SECONDS_BEFORE, prompt: [{ tone: WARNING_TONE }] },
  reconnect: { minSeconds: 0.2, maxSeconds: 1 },
  promptTimeoutSeconds: 5,
};

describe('announcements with a FreeSWITCH media server (SIPp callers receiving RTP, MariaDB)', function () {
  this.timeout(120_000);
  const named = process.env.TOLLGATE_TEST_FREESWITCH;
  let db: Database;
  let product: Product;
  let rtp: Awaited<ReturnType<typeof rtpSink>>;
  const far = {} as Record<FarEnd, FarEndProcess>;

  before(async function () {
    if (!named) {
      console.log('      skipped: TOLLGATE_TEST_FREESWITCH is not set (host:eslport:secret:sipaddr of a FreeSWITCH set up as in app/media/README.md)');
      this.skip();
    }
    // host:eslport:secret:sipaddr, where sipaddr is itself host:port (or left out: sofia status tells it).
    const [host, eslPort, secret, ...sipAddress] = named!.split(':');
    const sip = sipAddress.length > 0 ? sipAddress.join(':') : null;
    const url = await testDatabaseUrl('media_fs');
    db = await openDatabaseUrl(url);
    await db.migrate();
    for (const [end, scenario] of Object.entries(FAR_ENDS) as Array<[FarEnd, string]>) far[end] = await startFarEnd(scenario, 'udp', 1000);
    await seedCallWorld(db, Object.fromEntries(Object.entries(far).map(([k, v]) => [k, v.port])) as Record<FarEnd, number>, 'udp');
    rtp = await rtpSink();
    product = await startProduct({
      databaseUrl: url,
      config: {
        prepaid: { grantSeconds: 2, reauthLeadSeconds: 1 },
        media: { ...MEDIA_RULES, freeswitch: { address: host!, port: Number(eslPort), secret: secret!, sipAddress: sip, listenAddress: '127.0.0.1' } },
      },
    });
    await product.waitForLog((l) => l.message === 'media server connected', 15_000);
  });

  after(async () => {
    await product?.stop();
    await Promise.all(Object.values(far).map((f) => f.stop()));
    rtp?.close();
    await db?.close();
  });

  it('reports the media server up in /ready', async () => {
    const ready = await adminGet(product, '/ready');
    assert.equal(JSON.parse(ready.text).media, 'up');
  });

  it('a caller without credit hears the no-credit prompt in early media before the 402, and is charged nothing', async () => {
    rtp.packets.length = 0;
    const run = await callWithAudio(EARLY_MEDIA_THEN_402, PEOPLE.broke.e164, PEOPLE.bob.ext, product.sipPort, rtp.port);
    assert.equal(run.result.exitCode, 0, run.result.stdout.slice(-800));
    const early = run.at('EARLY')!;
    const final = run.at('FINAL')!;
    const heard = rtp.packets.filter((p) => p.audible && p.at >= early - 50 && p.at <= final);
    // 1 s of tone is 50 packets of 20 ms; allow for the start and the end of the stream.
    assert.ok(heard.length >= 30, `audible RTP between the 183 and the 402: ${heard.length} packets`);
    assert.ok(final - early >= 900, `the 402 came ${final - early} ms after the 183: the prompt played first`);
    assert.match(run.reason ?? '', /cause=402/);
    const cdr = await cdrOf(db, run.sipCallId);
    assert.equal(cdr.disposition, 'refused');
    assert.equal(cdr.cost, 0n);
    assert.equal(cdr.ledgerKey, null);
    const metrics = await adminGet(product, '/metrics');
    assert.ok(metricValue(metrics.text, 'tollgate_media_announcements_total', 'prompt="no_credit"') >= 1);
  });

  it('the warning reaches the caller at the right second, the call is cut at the end of the money, and the books are exact', async () => {
    rtp.packets.length = 0;
    // The poor member's money buys exactly 4 s off-net: the final grant ends 4 s after answer.
    const run = await callWithAudio(ANSWERED_UNTIL_BYE, PEOPLE.poor.e164, `9${national(PREFIX_OF.timing)}`, product.sipPort, rtp.port);
    assert.equal(run.result.exitCode, 0, run.result.stdout.slice(-800));
    const answered = run.at('ANSWERED')!;
    const bye = run.at('BYE')!;
    const firstAudible = rtp.packets.find((p) => p.audible && p.at >= answered);
    assert.ok(firstAudible, 'the caller heard the warning');
    const warnedAt = (firstAudible.at - answered) / 1000;
    const expected = 4 - WARNING_SECONDS_BEFORE;
    assert.ok(Math.abs(warnedAt - expected) <= 0.5, `warning heard ${warnedAt.toFixed(2)} s after answer, ${expected} s expected`);
    assert.ok(Math.abs((bye - answered) / 1000 - 4) <= 0.5, `cut off ${(bye - answered) / 1000} s after answer`);
    assert.match(run.reason ?? '', /Credit exhausted/);
    const cdr = await cdrOf(db, run.sipCallId);
    assert.equal(cdr.billableSeconds, 4);
    assert.equal(cdr.cost, 4n * PRICE_PER_SECOND.offnet);
    assert.equal(cdr.cost, parseMoney(POOR_BALANCE), 'all the money, to the micro-unit');
    assert.equal(await ledgerCharge(db, cdr.ledgerKey), cdr.cost);
    const books = await checkBooks(db);
    assert.ok(books.accountsOk, books.problems.join('; '));
    assert.equal(books.openReservations, 0);
    const metrics = await adminGet(product, '/metrics');
    assert.ok(metricValue(metrics.text, 'tollgate_media_announcements_total', 'prompt="warning"') >= 1);
  });
});

describe('media configured but no media server reachable: calls go on without media (MariaDB, SIPp)', function () {
  this.timeout(120_000);
  let db: Database;
  let product: Product;
  const far = {} as Record<FarEnd, FarEndProcess>;

  before(async () => {
    const url = await testDatabaseUrl('media_down');
    db = await openDatabaseUrl(url);
    await db.migrate();
    for (const [end, scenario] of Object.entries(FAR_ENDS) as Array<[FarEnd, string]>) far[end] = await startFarEnd(scenario, 'udp', 1000);
    await seedCallWorld(db, Object.fromEntries(Object.entries(far).map(([k, v]) => [k, v.port])) as Record<FarEnd, number>, 'udp');
    product = await startProduct({
      databaseUrl: url,
      config: {
        prepaid: { grantSeconds: 2, reauthLeadSeconds: 1 },
        media: { ...MEDIA_RULES, freeswitch: { address: '127.0.0.1', port: await closedPort(), secret: 'ClueCon' } },
      },
    });
  });

  after(async () => {
    await product?.stop();
    await Promise.all(Object.values(far).map((f) => f.stop()));
    await db?.close();
  });

  it('/ready stays ready and says media is degraded', async () => {
    const ready = await adminGet(product, '/ready');
    assert.equal(ready.status, 200, ready.text);
    assert.deepEqual({ ready: JSON.parse(ready.text).ready, media: JSON.parse(ready.text).media }, { ready: true, media: 'degraded' });
  });

  it('refuses a caller without credit with a bare 402 as without media, counts the fallback, and logs the outage once', async () => {
    const runs = [];
    for (let i = 0; i < 2; i++) runs.push(await placeCall({ scenario: 'uac-no-credit-expect-402.xml', caller: PEOPLE.broke.e164, dialled: PEOPLE.bob.ext, transport: 'udp', sipPort: product.sipPort }));
    for (const r of runs) {
      assert.equal(r.result.exitCode, 0, r.result.stdout.slice(-800));
      assert.match(r.reason ?? '', /cause=402/);
      assert.equal((await cdrOf(db, r.sipCallId)).cost, 0n);
    }
    const metrics = await adminGet(product, '/metrics');
    assert.ok(metricValue(metrics.text, 'tollgate_media_fallbacks_total', 'reason="media_server_down"') >= 2);
    assert.equal(metricValue(metrics.text, 'tollgate_media_server_up'), 0);
    assert.equal(product.logs.filter((l) => l.message === 'media server unavailable: calls selected for media go without it').length, 1);
  });

  it('cuts a prepaid call at the end of its money, exactly as without media', async () => {
    const r = await placeCall({ scenario: 'uac-call-expect-bye.xml', caller: PEOPLE.poor.e164, dialled: `9${national(PREFIX_OF.timing)}`, transport: 'udp', sipPort: product.sipPort });
    assert.equal(r.result.exitCode, 0, r.result.stdout.slice(-800));
    assert.match(r.reason ?? '', /Credit exhausted/);
    const cdr = await cdrOf(db, r.sipCallId);
    assert.equal(cdr.billableSeconds, 4);
    assert.equal(cdr.cost, parseMoney(POOR_BALANCE));
    assert.equal(await ledgerCharge(db, cdr.ledgerKey), cdr.cost);
    const books = await checkBooks(db);
    assert.ok(books.accountsOk, books.problems.join('; '));
    assert.equal(books.openReservations, 0);
  });
});
