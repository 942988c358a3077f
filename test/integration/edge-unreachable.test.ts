import { strict as assert } from 'node:assert';
import Srf from 'drachtio-srf';
import { silentLogger } from '../../lib/common/logger';
import { startEdge, type EdgeServer } from '../../lib/edge';
import { connectApp } from '../support/srf';
import { freePort } from '../support/ports';

describe('edge: a TCP destination that refuses the connection', function () {
  this.timeout(20_000);
  let edge: EdgeServer;
  let srf: Srf;

  before(async () => {
    edge = await startEdge({
      sip: [{ transport: 'tcp', address: '127.0.0.1', port: 0 }],
      control: { address: '127.0.0.1', port: 0, secret: 's' },
      timers: { t1: 500, t2: 4000, t4: 5000 },
    }, silentLogger());
    srf = new Srf();
    await connectApp(srf, edge.controlPort, 's');
  });
  after(async () => {
    srf.disconnect();
    await edge.close();
  });

  it('answers the app 503 at once instead of waiting for Timer B (so a B2BUA fails over quickly)', async () => {
    const closed = await freePort('tcp');
    const started = Date.now();
    const err = await srf.createUAC(`sip:4930123@127.0.0.1:${closed};transport=tcp`, { localSdp: 'v=0\r\n' }).then(
      () => assert.fail('the call was answered'),
      (e: { status?: number }) => e,
    );
    assert.equal(err.status, 503);
    assert.ok(Date.now() - started < 2000, `refused after ${Date.now() - started} ms; Timer B would be 32 s`);
  });
});
