import { strict as assert } from 'node:assert';
import Srf from 'drachtio-srf';
import { silentLogger } from '../../lib/common/logger';
import { startEdge, type EdgeServer } from '../../lib/edge';
import { runSipp } from '../support/sipp';
import { connectApp } from '../support/srf';


describe('edge: several applications on one edge', function () {
  this.timeout(30_000);
  let edge: EdgeServer;
  const apps: Srf[] = [];
  const taken = [0, 0];

  before(async () => {
    edge = await startEdge({
      sip: [{ transport: 'udp', address: '127.0.0.1', port: 0 }],
      control: { address: '127.0.0.1', port: 0, secret: 'right' },
      timers: { t1: 100, t2: 800, t4: 1000 },
    }, silentLogger());
    for (const i of [0, 1]) {
      const srf = new Srf();
      srf.invite((_req, res) => { taken[i]!++; res.send(486); });
      await connectApp(srf, edge.controlPort, 'right');
      apps.push(srf);
    }
  });
  after(async () => {
    for (const a of apps) a.disconnect();
    await edge.close();
  });

  it('shares new INVITEs between the connected applications in turn', async () => {
    const port = edge.sipAddresses[0]!.port;
    const r = await runSipp({ scenario: 'uac', target: `127.0.0.1:${port}`, calls: 6, rate: 20, timeoutMs: 15_000 });
    assert.equal(r.stats.failed, 6, 'every call was answered 486 by an application');
    assert.deepEqual(taken, [3, 3]);
  });

  it('refuses an application with the wrong secret', async () => {
    const intruder = new Srf();
    const outcome = await Promise.race([
      connectApp(intruder, edge.controlPort, 'wrong').then(() => 'connected', (err: Error) => `refused: ${err.message}`),
      new Promise<string>((r) => setTimeout(() => r('no answer'), 5000)),
    ]);
    intruder.disconnect();
    assert.match(outcome, /^refused/);
  });
});
