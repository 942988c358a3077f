import assert from 'node:assert/strict';
import type net from 'node:net';
import path from 'node:path';
import Srf from 'drachtio-srf';
import { silentLogger } from '../../lib/common/logger';
import { startEdge, type EdgeOptions, type EdgeServer } from '../../lib/edge';
import { runSipp, startSipp, type SippProcess, type SippResult } from '../support/sipp';
import { connectApp } from '../support/srf';

const SCEN = path.resolve(__dirname, '../../../scenarios/edge');
const scenario = (name: string) => ({ file: path.join(SCEN, name) });
type Transport = 'udp' | 'tcp';
type Handler = (req: Srf.SrfRequest, res: Srf.SrfResponse) => void;

const T1 = 50;
const SDP = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n';
const SECRET = 'lifecycle';

interface Harness { edge: EdgeServer; srf: Srf; setHandler(h: Handler): void; port(tp: Transport): number; close(): Promise<void> }

async function startHarness(extra: Partial<EdgeOptions> = {}): Promise<Harness> {
  const edge = await startEdge({
    sip: [{ transport: 'udp', address: '127.0.0.1', port: 0 }, { transport: 'tcp', address: '127.0.0.1', port: 0 }],
    control: { address: '127.0.0.1', port: 0, secret: SECRET },
    timers: { t1: T1, t2: 400, t4: 500 },
    appDisconnectGraceMs: 300,
    ...extra,
  }, silentLogger());
  const srf = new Srf();
  let handler: Handler = (_req, res) => res.send(500);
  srf.invite((req, res) => handler(req, res));
  await connectApp(srf, edge.controlPort, SECRET);
  return {
    edge, srf, setHandler: (h) => { handler = h; },
    port: (tp) => (edge.sipAddresses.find((a) => a.transport === tp) as { port: number }).port,
    close: async () => { srf.disconnect(); await edge.close(); },
  };
}

async function until(cond: () => boolean, ms = 8000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`${what} not reached in ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function ok(r: SippResult, label: string): void {
  assert.equal(r.exitCode, 0, `${label}: SIPp exit ${r.exitCode}\n${r.stderr.slice(-1500)}`);
  assert.ok(r.stats.successful >= 1, `${label}: no successful call`);
  assert.equal(r.stats.failed, 0, `${label}: failed calls`);
}

async function stopOk(p: SippProcess, label: string): Promise<void> {
  const r = await p.stop();
  assert.equal(r.stats.failed, 0, `${label} failed: ${r.stderr.slice(-1500)}`);
  assert.equal(r.stats.successful, 1, `${label}: scenario not completed\n${r.stderr.slice(-1500)}`);
}

const target = (tp: Transport, port: number) => `sip:callee@127.0.0.1:${port}${tp === 'tcp' ? ';transport=tcp' : ''}`;

/** drachtio-srf's Dialog has the server's dialog id; its typings lack it. */
const dialogIdOf = (d: Srf.Dialog): string => (d as unknown as { id: string }).id;

function onDestroy(d: Srf.Dialog, fn: (msg: unknown, reason: string) => void): void {
  (d as unknown as NodeJS.EventEmitter).on('destroy', fn);
}

/** drachtio-srf's agent, whose internals carry the edge's own control command. */
interface Agent {
  _getDefaultSocket(): net.Socket;
  wp: { send(socket: net.Socket, msg: string): string };
  mapServer: Map<net.Socket, { pendingRequests: Map<string, (tokens: string[], rawMsg?: string) => void> }>;
}
const agentOf = (srf: Srf): Agent => (srf as unknown as { _app: { client: Agent } })._app.client;

/** Kills the application's control connection the way a crash does (no goodbye). */
function killConnection(srf: Srf): void { agentOf(srf)._getDefaultSocket().destroy(); }

interface OrphansAnswer { now: number; dialogs: Record<string, { endedAt: number | null; how: string | null }> }

/** `tollgate:orphans` through a real drachtio-srf connection: parsed by its agent as a response. */
function askOrphans(srf: Srf, ids: string[]): Promise<OrphansAnswer> {
  const agent = agentOf(srf);
  const socket = agent._getDefaultSocket();
  const msgId = agent.wp.send(socket, `tollgate:orphans${ids.length ? `\r\n${ids.join('\n')}` : ''}`);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('tollgate:orphans not answered')), 5000);
    agent.mapServer.get(socket)?.pendingRequests.set(msgId, (tokens, rawMsg) => {
      clearTimeout(timer);
      if (tokens[0] !== 'OK' || rawMsg === undefined) { reject(new Error(`unexpected answer ${tokens.join('|')}`)); return; }
      try { resolve(JSON.parse(rawMsg) as OrphansAnswer); } catch (err) { reject(err as Error); }
    });
  });
}

async function connectedApp(edge: EdgeServer): Promise<Srf> {
  const srf = new Srf();
  await connectApp(srf, edge.controlPort, SECRET);
  return srf;
}

describe('SIP edge call lifecycle: bounded INVITEs, orphan records, drain, application session timers', function () {
  this.timeout(60000);

  describe('a callee that rings and then vanishes', () => {
    for (const tp of ['udp', 'tcp'] as const) {
      it(`over ${tp.toUpperCase()}: after the app's CANCEL, createUAC rejects with 408 within 64*T1`, async () => {
        const h = await startHarness({ timers: { t1: T1, t2: 400, t4: 500, timerC: 60000 } });
        const callee = await startSipp({ scenario: scenario('uas-ring-vanish.xml'), transport: tp, timeoutMs: 20000 });
        try {
          let cancelledAt = 0;
          let sent: { cancel(): void } | null = null;
          await assert.rejects(h.srf.createUAC(target(tp, callee.localPort), { localSdp: SDP }, {
            cbRequest: ((_err: unknown, req: { cancel(): void }) => { sent = req; }) as unknown as (req: Srf.SrfRequest) => void,
            cbProvisional: (res: Srf.SrfResponse) => {
              if (res.status === 180 && !cancelledAt && sent) { cancelledAt = Date.now(); sent.cancel(); }
            },
          }), (err: { status?: number }) => err.status === 408);
          const waited = Date.now() - cancelledAt;
          assert.ok(cancelledAt > 0, 'the app never cancelled');
          assert.ok(waited >= 64 * T1 - 100 && waited <= 64 * T1 + 2000, `408 came ${waited} ms after CANCEL`);
          const c = h.edge.counters();
          assert.equal(c.cancelGiveUps, 1);
          assert.equal(c.timerCCancels, 0);
          await until(() => h.edge.counters().liveClientTransactions === 0, 5000, 'transactions ended');
          await stopOk(callee, 'callee (must have seen the CANCEL)');
        } finally { await callee.stop(); await h.close(); }
      });

      it(`over ${tp.toUpperCase()}: with no CANCEL from the app, Timer C cancels and the app gets 408`, async () => {
        const timerC = 1000;
        const h = await startHarness({ timers: { t1: T1, t2: 400, t4: 500, timerC } });
        const callee = await startSipp({ scenario: scenario('uas-ring-vanish.xml'), transport: tp, timeoutMs: 20000 });
        try {
          let ringingAt = 0;
          const started = Date.now();
          await assert.rejects(h.srf.createUAC(target(tp, callee.localPort), { localSdp: SDP }, {
            cbProvisional: (res: Srf.SrfResponse) => { if (res.status === 180) ringingAt = Date.now(); },
          }), (err: { status?: number }) => err.status === 408);
          const total = Date.now() - started;
          assert.ok(ringingAt > 0, 'no 180 seen');
          const sinceRinging = Date.now() - ringingAt;
          // Timer C runs from the 180 (its last reset), then the give-up after CANCEL
          assert.ok(sinceRinging >= timerC + 64 * T1 - 100, `408 after ${sinceRinging} ms of ringing`);
          assert.ok(total <= timerC + 64 * T1 + 2500, `408 after ${total} ms`);
          const c = h.edge.counters();
          assert.equal(c.timerCCancels, 1);
          assert.equal(c.cancelGiveUps, 1);
          await until(() => h.edge.counters().liveClientTransactions === 0, 5000, 'transactions ended');
          await stopOk(callee, 'callee (must have seen the CANCEL)');
        } finally { await callee.stop(); await h.close(); }
      });
    }

    it('each provisional response resets Timer C', async () => {
      const timerC = 1000;
      const h = await startHarness({ timers: { t1: T1, t2: 400, t4: 500, timerC } });
      const callee = await startSipp({ scenario: scenario('uas-ring-progress-vanish.xml'), transport: 'udp', timeoutMs: 20000 });
      try {
        const provisional: Array<{ status: number; at: number }> = [];
        await assert.rejects(h.srf.createUAC(target('udp', callee.localPort), { localSdp: SDP }, {
          cbProvisional: (res: Srf.SrfResponse) => { provisional.push({ status: res.status, at: Date.now() }); },
        }), (err: { status?: number }) => err.status === 408);
        const rejectedAt = Date.now();
        assert.deepEqual(provisional.map((p) => p.status), [180, 183]);
        assert.ok(provisional[1].at - provisional[0].at >= 600);
        // counted from the 183, not the 180: without the reset the 408 would come 700 ms sooner
        assert.ok(rejectedAt - provisional[1].at >= timerC + 64 * T1 - 100, `408 ${rejectedAt - provisional[1].at} ms after the 183`);
        assert.equal(h.edge.counters().timerCCancels, 1);
        await stopOk(callee, 'callee (must have seen the CANCEL)');
      } finally { await callee.stop(); await h.close(); }
    });
  });

  describe('orphan records', () => {
    it('app connection killed mid-call: the caller\'s BYE and the grace BYE are recorded at their times; tollgate:orphans answers through drachtio-srf', async () => {
      const grace = 1500;
      const h = await startHarness({ appDisconnectGraceMs: grace });
      const callee = await startSipp({ scenario: scenario('uas-answer.xml'), transport: 'udp', timeoutMs: 20000 });
      let asker: Srf | null = null;
      try {
        let killedAt = 0;
        const ids: { caller?: string; callee?: string } = {};
        h.setHandler((req, res) => {
          h.srf.createB2BUA(req, res, target('udp', callee.localPort), { localSdpB: req.body }).then(({ uas, uac }) => {
            ids.caller = dialogIdOf(uas); ids.callee = dialogIdOf(uac);
            killedAt = Date.now();
            killConnection(h.srf);
          }, () => undefined);
        });
        const caller = await runSipp({ scenario: 'uac', transport: 'udp', target: `127.0.0.1:${h.port('udp')}`, calls: 1, durationMs: 800, timeoutMs: 15000 });
        const callerDoneAt = Date.now();
        ok(caller, 'caller');
        assert.ok(killedAt > 0 && ids.caller && ids.callee);
        await until(() => h.edge.counters().liveDialogs === 0, 8000, 'both legs ended');
        const graceByeSeenBy = Date.now();
        await stopOk(callee, 'callee (BYE after the grace)');

        asker = await connectedApp(h.edge);
        const answer = await askOrphans(asker, [ids.caller as string, ids.callee as string, 'unknown-call;from-tag=nobody']);
        assert.ok(Math.abs(answer.now - Date.now()) < 2000);
        assert.deepEqual(Object.keys(answer.dialogs).sort(), [ids.caller, ids.callee].sort());
        const byCaller = answer.dialogs[ids.caller as string];
        assert.equal(byCaller.how, 'bye-received');
        assert.ok(byCaller.endedAt !== null && byCaller.endedAt >= killedAt && byCaller.endedAt <= callerDoneAt,
          `caller leg ended at ${byCaller.endedAt}, killed ${killedAt}, caller done ${callerDoneAt}`);
        const byGrace = answer.dialogs[ids.callee as string];
        assert.equal(byGrace.how, 'grace-bye');
        assert.ok(byGrace.endedAt !== null && byGrace.endedAt >= killedAt + grace && byGrace.endedAt <= graceByeSeenBy,
          `callee leg ended ${byGrace.endedAt === null ? 'never' : byGrace.endedAt - killedAt} ms after the kill`);
        const all = await askOrphans(asker, []);
        assert.deepEqual(all.dialogs, answer.dialogs);
        assert.equal(h.edge.counters().orphansRecorded, 2);
      } finally {
        asker?.disconnect();
        await callee.stop();
        await h.close();
      }
    });
  });

  describe('drain', () => {
    it('new INVITEs get 503, the app\'s BYE still goes out, and drain resolves when the last dialog ends', async () => {
      const h = await startHarness();
      try {
        let dialog: Srf.Dialog | null = null;
        h.setHandler((req, res) => { h.srf.createUAS(req, res, { localSdp: req.body }).then((d) => { dialog = d; }, () => undefined); });
        const caller = await startSipp({ scenario: scenario('uac-expect-bye.xml'), transport: 'udp', target: `127.0.0.1:${h.port('udp')}`, calls: 1, timeoutMs: 20000 });
        await until(() => dialog !== null, 8000, 'call answered');
        let drained = false;
        const started = Date.now();
        const draining = h.edge.drain(20000).then(() => { drained = true; });
        ok(await runSipp({ scenario: scenario('uac-expect-503.xml'), transport: 'udp', target: `127.0.0.1:${h.port('udp')}`, calls: 1, timeoutMs: 15000 }), 'caller during drain');
        assert.equal(h.edge.counters().drainRefusals, 1);
        assert.equal(drained, false, 'drain resolved with a call still up');
        await (dialog as unknown as Srf.Dialog).destroy();
        ok(await caller.done, 'caller (BYE from the app)');
        await draining;
        assert.ok(Date.now() - started < 10000, 'drain waited for its deadline');
        assert.equal(h.edge.counters().liveDialogs, 0);
        assert.equal(h.edge.counters().drainByes, 0);
      } finally { await h.close(); }
    });

    it('at the deadline the edge BYEs what is left (an orphan too), CANCELs a ringing outgoing INVITE and answers an unanswered incoming one 503', async () => {
      const h = await startHarness({ appDisconnectGraceMs: 30000 });
      const crashed = await connectedApp(h.edge);
      const orphanCallee = await startSipp({ scenario: scenario('uas-answer.xml'), transport: 'udp', timeoutMs: 20000 });
      const ringingCallee = await startSipp({ scenario: scenario('uas-ring-cancel.xml'), transport: 'udp', timeoutMs: 20000 });
      let asker: Srf | null = null;
      try {
        // a live call of a connected app
        const reasons: string[] = [];
        h.setHandler((req, res) => { h.srf.createUAS(req, res, { localSdp: req.body }).then((d) => onDestroy(d, (_m, r) => reasons.push(r)), () => undefined); });
        const liveCaller = await startSipp({ scenario: scenario('uac-expect-bye.xml'), transport: 'udp', target: `127.0.0.1:${h.port('udp')}`, calls: 1, timeoutMs: 20000 });
        await until(() => h.edge.counters().liveDialogs === 1, 8000, 'live call');
        // a call whose application crashed
        const orphanDialog = await crashed.createUAC(target('udp', orphanCallee.localPort), { localSdp: SDP });
        const orphanId = dialogIdOf(orphanDialog);
        killConnection(crashed);
        await until(() => h.edge.counters().orphansRecorded === 1, 5000, 'crashed app gone');
        // an incoming INVITE the app never answers
        let held = 0;
        h.setHandler(() => { held++; });
        const unanswered = await startSipp({ scenario: scenario('uac-expect-503.xml'), transport: 'udp', target: `127.0.0.1:${h.port('udp')}`, calls: 1, timeoutMs: 20000 });
        await until(() => held === 1, 8000, 'incoming INVITE held');
        // an outgoing INVITE still ringing
        let ringing = false;
        const outgoing = h.srf.createUAC(target('udp', ringingCallee.localPort), { localSdp: SDP }, { cbProvisional: () => { ringing = true; } })
          .then(() => 200, (err: { status?: number }) => err.status ?? 0);
        await until(() => ringing, 8000, 'outgoing INVITE ringing');

        const deadline = 800;
        const started = Date.now();
        await h.edge.drain(deadline);
        const took = Date.now() - started;
        assert.ok(took >= deadline - 50 && took <= deadline + 2000 + 1000, `drain took ${took} ms`);
        ok(await liveCaller.done, 'live caller (BYE from the edge)');
        ok(await unanswered.done, 'unanswered caller (503)');
        assert.equal(await outgoing, 487);
        await until(() => reasons.length === 1, 5000, 'app told of the BYE');
        assert.match(reasons[0], /edge shutting down/);
        await stopOk(orphanCallee, 'orphan callee (BYE from the edge)');
        await stopOk(ringingCallee, 'ringing callee (CANCEL)');
        const c = h.edge.counters();
        assert.equal(c.drainByes, 2);
        assert.equal(c.liveDialogs, 0);
        asker = await connectedApp(h.edge);
        const answer = await askOrphans(asker, [orphanId]);
        assert.equal(answer.dialogs[orphanId]?.how, 'edge-stop');
        const endedAt = answer.dialogs[orphanId].endedAt as number;
        assert.ok(endedAt >= started + deadline - 50 && endedAt <= started + took, `orphan ended ${endedAt - started} ms into the drain`);
      } finally {
        asker?.disconnect();
        crashed.disconnect();
        await orphanCallee.stop();
        await ringingCallee.stop();
        await h.close();
      }
    });
  });

  describe('session timers asked for by the application', () => {
    const appUacHeaders = { 'Session-Expires': '2;refresher=uac', 'Min-SE': '1', Supported: 'timer' };
    const appUasHeaders = { 'Session-Expires': '2;refresher=uac', Require: 'timer' };

    for (const enabled of [false, true]) {
      const label = enabled ? 'edge timers on: nothing doubled' : 'edge timers off: the app\'s headers drive them';
      it(`${label}; outgoing INVITE, the edge refreshes as UAC and the headers go out once`, async () => {
        const h = await startHarness({ sessionTimer: { enabled, interval: 90, minSE: 1, refresher: 'uas' } });
        const callee = await startSipp({ scenario: scenario('uas-session-refresh.xml'), transport: 'udp', timeoutMs: 20000 });
        try {
          const dlg = await h.srf.createUAC(target('udp', callee.localPort), { localSdp: SDP, headers: appUacHeaders });
          await until(() => h.edge.counters().sessionRefreshes >= 1, 5000, 'session refresh');
          await dlg.destroy();
          await stopOk(callee, 'callee (headers once, refresh, BYE)');
        } finally { await callee.stop(); await h.close(); }
      });

      it(`${label}; incoming INVITE, the app's 200 carries Session-Expires once`, async () => {
        const h = await startHarness({ sessionTimer: { enabled, interval: 90, minSE: 1, refresher: 'uas' } });
        try {
          let answered = 0;
          h.setHandler((req, res) => { h.srf.createUAS(req, res, { localSdp: req.body, headers: appUasHeaders }).then(() => { answered++; }, () => undefined); });
          ok(await runSipp({ scenario: scenario('uac-session-timer-once.xml'), transport: 'udp', target: `127.0.0.1:${h.port('udp')}`, calls: 1, timeoutMs: 15000 }), 'caller');
          assert.equal(answered, 1);
        } finally { await h.close(); }
      });
    }

    it('edge timers off: the caller is the refresher and stops; the edge BYEs it and tells the app', async () => {
      const h = await startHarness({ sessionTimer: { enabled: false, interval: 90, minSE: 1, refresher: 'uas' } });
      try {
        const reasons: string[] = [];
        h.setHandler((req, res) => {
          h.srf.createUAS(req, res, { localSdp: req.body, headers: appUasHeaders }).then((d) => onDestroy(d, (_m, r) => reasons.push(r)), () => undefined);
        });
        ok(await runSipp({ scenario: scenario('uac-session-timer.xml'), transport: 'udp', target: `127.0.0.1:${h.port('udp')}`, calls: 1, timeoutMs: 15000 }), 'caller');
        await until(() => reasons.length === 1, 5000, 'app told');
        assert.match(reasons[0], /session timer expired/);
        assert.equal(h.edge.counters().sessionTimerByes, 1);
      } finally { await h.close(); }
    });
  });
});
