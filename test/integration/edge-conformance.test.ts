import assert from 'node:assert/strict';
import path from 'node:path';
import Srf from 'drachtio-srf';
import { silentLogger } from '../../lib/common/logger';
import { startEdge, type EdgeOptions, type EdgeServer } from '../../lib/edge';
import { runSipp, startSipp, type SippResult } from '../support/sipp';
import { connectApp } from '../support/srf';

const SCEN = path.resolve(__dirname, '../../../scenarios/edge');
const scenario = (name: string) => ({ file: path.join(SCEN, name) });
type Transport = 'udp' | 'tcp';
type Handler = (req: Srf.SrfRequest, res: Srf.SrfResponse) => void;

interface Harness { edge: EdgeServer; srf: Srf; setHandler(h: Handler): void; port(tp: Transport): number; close(): Promise<void> }

async function startHarness(extra: Partial<EdgeOptions> = {}): Promise<Harness> {
  const edge = await startEdge({
    sip: [{ transport: 'udp', address: '127.0.0.1', port: 0 }, { transport: 'tcp', address: '127.0.0.1', port: 0 }],
    control: { address: '127.0.0.1', port: 0, secret: 'conformance' },
    timers: { t1: 50, t2: 400, t4: 500 },
    appDisconnectGraceMs: 300,
    ...extra,
  }, silentLogger());
  const srf = new Srf();
  let handler: Handler = (_req, res) => res.send(500);
  srf.invite((req, res) => handler(req, res));
  await connectApp(srf, edge.controlPort, 'conformance');
  return {
    edge, srf, setHandler: (h) => { handler = h; },
    port: (tp) => (edge.sipAddresses.find((a) => a.transport === tp) as { port: number }).port,
    close: async () => { srf.disconnect(); await edge.close(); },
  };
}


async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

function ok(r: SippResult, label: string): void {
  assert.equal(r.exitCode, 0, `${label}: SIPp exit ${r.exitCode}\n${r.stderr.slice(-1500)}`);
  assert.ok(r.stats.successful >= 1, `${label}: no successful call`);
  assert.equal(r.stats.failed, 0, `${label}: failed calls`);
}

const target = (tp: Transport, port: number) => `sip:callee@127.0.0.1:${port}${tp === 'tcp' ? ';transport=tcp' : ''}`;

/** drachtio-srf's typings lack some of its API: these give it a type. */
function inDialogRequest(d: Srf.Dialog, opts: { method: string; headers: Record<string, string>; body: string }): Promise<Srf.SrfResponse> {
  return (d.request as unknown as (o: typeof opts) => Promise<Srf.SrfResponse>).call(d, opts);
}
function onDestroy(d: Srf.Dialog, fn: (msg: unknown, reason: string) => void): void {
  (d as unknown as NodeJS.EventEmitter).on('destroy', fn);
}

/** A B2BUA as an application writes it: wires BYE, re-INVITE and INFO between the legs. */
function b2bua(h: Harness, tp: Transport, calleePort: number, events: string[]): Handler {
  return (req, res) => {
    h.srf.createB2BUA(req, res, target(tp, calleePort), { localSdpB: req.body })
      .then(({ uas, uac }) => {
        events.push('connected');
        uas.on('destroy', () => { events.push('caller-bye'); void uac.destroy(); });
        uac.on('destroy', () => { events.push('callee-bye'); void uas.destroy(); });
        for (const [from, to] of [[uas, uac], [uac, uas]] as const) {
          from.on('modify', (mreq: Srf.SrfRequest, mres: Srf.SrfResponse) => {
            events.push('reinvite');
            to.modify(mreq.body).then((sdp) => mres.send(200, { body: sdp }), () => mres.send(488));
          });
          from.on('info', (ireq: Srf.SrfRequest, ires: Srf.SrfResponse) => {
            events.push('info');
            inDialogRequest(to, { method: 'INFO', headers: { 'Content-Type': ireq.get('Content-Type') }, body: ireq.body })
              .then((r: Srf.SrfResponse) => ires.send(r.status), () => ires.send(500));
          });
        }
      })
      .catch((err: { status?: number }) => events.push(`failed-${err.status ?? 'error'}`));
  };
}

describe('SIP edge conformance: drachtio-srf applications against the edge, SIPp far ends', function () {
  this.timeout(60000);
  let h: Harness;
  before(async () => { h = await startHarness(); });
  after(async () => { await h.close(); });
  afterEach(async () => { await until(() => h.edge.counters().liveDialogs === 0, 8000); });

  for (const tp of ['udp', 'tcp'] as const) {
    describe(`over ${tp.toUpperCase()}`, () => {
      it('createUAS answering 200: the caller is connected and its BYE ends the dialog', async () => {
        const events: string[] = [];
        h.setHandler((req, res) => {
          h.srf.createUAS(req, res, { localSdp: req.body }).then((d) => { events.push('connected'); d.on('destroy', () => events.push('bye')); });
        });
        ok(await runSipp({ scenario: 'uac', transport: tp, target: `127.0.0.1:${h.port(tp)}`, calls: 2, rate: 10, timeoutMs: 15000 }), 'caller');
        await until(() => events.filter((e) => e === 'bye').length === 2);
      });

      for (const status of [486, 503]) {
        it(`createUAS answering ${status}: the caller gets ${status} and the edge acknowledges nothing twice`, async () => {
          h.setHandler((_req, res) => res.send(status));
          ok(await runSipp({ scenario: scenario(`uac-expect-${status}.xml`), transport: tp, target: `127.0.0.1:${h.port(tp)}`, calls: 2, timeoutMs: 15000 }), 'caller');
        });
      }

      it('createUAC answered: the far end answers, the app hangs up', async () => {
        const callee = await startSipp({ scenario: scenario('uas-answer.xml'), transport: tp, timeoutMs: 15000 });
        try {
          const dlg = await h.srf.createUAC(target(tp, callee.localPort), { localSdp: 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n', callingNumber: '4930111' } as Srf.CreateUACOptions);
          assert.ok(dlg.remote.sdp.includes('m=audio'));
          await dlg.destroy();
          await until(() => h.edge.counters().liveDialogs === 0);
        } finally {
          const r = await callee.stop();
          assert.equal(r.stats.failed, 0);
        }
      });

      it('createUAC busy: the app gets a 486 error', async () => {
        const callee = await startSipp({ scenario: scenario('uas-busy.xml'), transport: tp, timeoutMs: 15000 });
        try {
          await assert.rejects(h.srf.createUAC(target(tp, callee.localPort), { localSdp: 'v=0\r\n' }), (err: { status?: number }) => err.status === 486);
        } finally { await callee.stop(); }
      });

      it('createUAC cancelled while ringing: the far end sees CANCEL and the app gets 487', async () => {
        const callee = await startSipp({ scenario: scenario('uas-ring-cancel.xml'), transport: tp, timeoutMs: 15000 });
        try {
          await assert.rejects(h.srf.createUAC(target(tp, callee.localPort), { localSdp: 'v=0\r\n' }, {
            cbProvisional: () => undefined,
            cbRequest: ((_err: unknown, req: { cancel(): void }) => { setTimeout(() => req.cancel(), 300); }) as unknown as (req: Srf.SrfRequest) => void,
          }), (err: { status?: number }) => err.status === 487);
          await new Promise((r) => setTimeout(r, 300));
        } finally {
          const r = await callee.stop();
          assert.equal(r.stats.failed, 0, r.stderr);
          assert.equal(r.stats.successful, 1);
        }
      });

      const b2bCases: Array<{ name: string; caller: string | { file: string }; callee: string; expect: string[] }> = [
        { name: 'answered; the caller hangs up', caller: 'uac', callee: 'uas-answer.xml', expect: ['connected', 'caller-bye'] },
        { name: 'busy: the callee\'s 486 reaches the caller', caller: scenario('uac-expect-486.xml'), callee: 'uas-busy.xml', expect: ['failed-486'] },
        { name: 'caller CANCEL while ringing reaches the callee', caller: scenario('uac-cancel.xml'), callee: 'uas-ring-cancel.xml', expect: ['failed-487'] },
        { name: 'the callee hangs up', caller: scenario('uac-expect-bye.xml'), callee: 'uas-hangup.xml', expect: ['connected', 'callee-bye'] },
        { name: 're-INVITE from the caller is relayed', caller: scenario('uac-reinvite.xml'), callee: 'uas-accept-reinvite.xml', expect: ['connected', 'reinvite', 'caller-bye'] },
        { name: 're-INVITE from the callee is relayed', caller: scenario('uac-accept-reinvite.xml'), callee: 'uas-reinvite.xml', expect: ['connected', 'reinvite', 'callee-bye'] },
        { name: 'INFO and OPTIONS in dialog', caller: scenario('uac-info-options.xml'), callee: 'uas-accept-info.xml', expect: ['connected', 'info', 'caller-bye'] },
      ];
      for (const c of b2bCases) {
        it(`createB2BUA ${c.name}`, async () => {
          const events: string[] = [];
          const callee = await startSipp({ scenario: scenario(c.callee), transport: tp, timeoutMs: 20000 });
          try {
            h.setHandler(b2bua(h, tp, callee.localPort, events));
            ok(await runSipp({ scenario: c.caller, transport: tp, target: `127.0.0.1:${h.port(tp)}`, calls: 1, timeoutMs: 15000 }), 'caller');
            await until(() => c.expect.every((e) => events.includes(e)));
            await until(() => h.edge.counters().liveDialogs === 0);
          } finally {
            const r = await callee.stop();
            assert.equal(r.stats.failed, 0, `callee failed: ${r.stderr.slice(-1000)}`);
          }
          assert.deepEqual(c.expect.filter((e) => !events.includes(e)), []);
        });
      }

      it('app-initiated BYE ends both legs', async () => {
        const callee = await startSipp({ scenario: scenario('uas-answer.xml'), transport: tp, timeoutMs: 15000 });
        try {
          h.setHandler((req, res) => {
            h.srf.createB2BUA(req, res, target(tp, callee.localPort), { localSdpB: req.body }).then(({ uas, uac }) => {
              setTimeout(() => { void uas.destroy(); void uac.destroy(); }, 200);
            }, () => undefined);
          });
          ok(await runSipp({ scenario: scenario('uac-expect-bye.xml'), transport: tp, target: `127.0.0.1:${h.port(tp)}`, calls: 1, timeoutMs: 15000 }), 'caller');
        } finally {
          const r = await callee.stop();
          assert.equal(r.stats.failed, 0);
        }
      });

      it('no ACK for the 200: the edge sends BYE after Timer H and tells the app', async () => {
        const events: string[] = [];
        h.setHandler((req, res) => {
          h.srf.createUAS(req, res, { localSdp: req.body }).then((d) => onDestroy(d, (_m, reason) => events.push(`destroy:${reason}`)));
        });
        const before = h.edge.counters().timerHByes;
        ok(await runSipp({ scenario: scenario('uac-no-ack.xml'), transport: tp, target: `127.0.0.1:${h.port(tp)}`, calls: 1, timeoutMs: 15000 }), 'caller');
        await until(() => events.length === 1);
        assert.match(events[0], /ACK timeout/);
        assert.equal(h.edge.counters().timerHByes, before + 1);
      });

      it('a request in an unknown dialog gets 481', async () => {
        ok(await runSipp({ scenario: scenario('uac-unknown-dialog.xml'), transport: tp, target: `127.0.0.1:${h.port(tp)}`, calls: 1, timeoutMs: 15000 }), 'caller');
      });

      it('no application routed INVITE: 503', async () => {
        const solo = await startEdge({ sip: [{ transport: tp, address: '127.0.0.1', port: 0 }], control: { address: '127.0.0.1', port: 0, secret: 'x' } }, silentLogger());
        try {
          ok(await runSipp({ scenario: scenario('uac-expect-503.xml'), transport: tp, target: `127.0.0.1:${solo.sipAddresses[0].port}`, calls: 1, timeoutMs: 15000 }), 'caller');
        } finally { await solo.close(); }
      });
    });
  }

  describe('session timers and dropped applications', () => {
    for (const tp of ['udp', 'tcp'] as const) {
      it(`over ${tp.toUpperCase()}: a caller that stops refreshing its session gets BYE, and the app is told`, async () => {
        const st = await startHarness({ sessionTimer: { enabled: true, interval: 2, minSE: 1, refresher: 'uas' } });
        try {
          const events: string[] = [];
          st.setHandler((req, res) => {
            st.srf.createUAS(req, res, { localSdp: req.body }).then((d) => onDestroy(d, (_m, reason) => events.push(reason)));
          });
          ok(await runSipp({ scenario: scenario('uac-session-timer.xml'), transport: tp, target: `127.0.0.1:${st.port(tp)}`, calls: 1, timeoutMs: 15000 }), 'caller');
          await until(() => events.length === 1);
          assert.match(events[0], /session timer expired/);
          assert.equal(st.edge.counters().sessionTimerByes, 1);
        } finally { await st.close(); }
      });

      it(`over ${tp.toUpperCase()}: when the app's connection drops mid-call both legs get BYE after the grace`, async () => {
        const dr = await startHarness();
        const callee = await startSipp({ scenario: scenario('uas-answer.xml'), transport: tp, timeoutMs: 15000 });
        try {
          let dropped = 0;
          dr.setHandler((req, res) => {
            dr.srf.createB2BUA(req, res, target(tp, callee.localPort), { localSdpB: req.body }).then(() => {
              setTimeout(() => { dropped = Date.now(); dr.srf.disconnect(); }, 100);
            }, () => undefined);
          });
          ok(await runSipp({ scenario: scenario('uac-expect-bye.xml'), transport: tp, target: `127.0.0.1:${dr.port(tp)}`, calls: 1, timeoutMs: 15000 }), 'caller');
          assert.ok(Date.now() - dropped >= 250, 'BYE came before the grace elapsed');
          assert.equal(dr.edge.counters().disconnectByes, 2);
          await until(() => dr.edge.counters().liveDialogs === 0);
        } finally {
          const r = await callee.stop();
          assert.equal(r.stats.failed, 0);
          await dr.edge.close();
        }
      });
    }
  });
});
