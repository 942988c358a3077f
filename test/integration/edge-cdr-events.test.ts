import { strict as assert } from 'node:assert';
import Srf from 'drachtio-srf';
import { silentLogger } from '../../lib/common/logger';
import { startEdge, type EdgeServer } from '../../lib/edge';
import { connectApp } from '../support/srf';
import { runSipp } from '../support/sipp';

type CdrEvent = { event: string; source: string; extra?: string; callId: string };

describe('edge: drachtio cdr events when enabled', function () {
  this.timeout(30_000);
  let edge: EdgeServer;
  let srf: Srf;
  const events: CdrEvent[] = [];

  before(async () => {
    edge = await startEdge({
      sip: [{ transport: 'udp', address: '127.0.0.1', port: 0 }],
      control: { address: '127.0.0.1', port: 0, secret: 's' },
      timers: { t1: 100, t2: 800, t4: 1000 },
      cdrEvents: true,
    }, silentLogger());
    srf = new Srf();
    srf.invite((req, res) => { void srf.createUAS(req, res, { localSdp: req.body }); });
    const on = srf.on.bind(srf) as unknown as (event: string, fn: (...args: unknown[]) => void) => void;
    for (const event of ['attempt', 'start', 'stop']) {
      on(`cdr:${event}`, (...args: unknown[]) => {
        const msg = args[args.length - 1] as { get(h: string): string };
        events.push({ event, source: String(args[0]), extra: event === 'attempt' ? undefined : String(args[2]), callId: msg.get('Call-ID') });
      });
    }
    await connectApp(srf, edge.controlPort, 's');
  });
  after(async () => {
    srf.disconnect();
    await edge.close();
  });

  it('reports attempt, start and stop of an answered call to the app, in that order', async () => {
    const port = edge.sipAddresses[0]!.port;
    const r = await runSipp({ scenario: 'uac', target: `127.0.0.1:${port}`, calls: 1, durationMs: 300, timeoutMs: 15_000 });
    assert.equal(r.exitCode, 0, r.stdout.slice(-500));
    const until = Date.now() + 3000;
    while (!events.some((e) => e.event === 'stop') && Date.now() < until) await new Promise((res) => setTimeout(res, 50));
    assert.deepEqual(events.map((e) => e.event), ['attempt', 'start', 'stop']);
    assert.equal(new Set(events.map((e) => e.callId)).size, 1, 'all three are about the one call');
    assert.equal(events[2]!.extra, 'normal-release');
  });
});
