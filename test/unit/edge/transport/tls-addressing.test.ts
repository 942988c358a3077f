import { strict as assert } from 'node:assert';
import { edgeSchema } from '../../../../app/config/schema';
import { Addressing } from '../../../../lib/edge/transport/addressing';
import type { TransportName } from '../../../../lib/edge/transport/transport';

const listening = (...ts: TransportName[]) => ({ hasTransport: (t: TransportName) => ts.includes(t) });
const tlsLocal = { transport: 'tls' as const, address: '127.0.0.1', port: 5061 };

describe('edge addressing over TLS', () => {
  it('routes sips: and ;transport=tls to TLS, port 5061 when the URI has none', async () => {
    const a = new Addressing(listening('udp', 'tls'), undefined);
    assert.deepEqual(await a.resolveTarget('sips:bob@127.0.0.1'), { transport: 'tls', address: '127.0.0.1', port: 5061 });
    assert.deepEqual(await a.resolveTarget('sip:bob@127.0.0.1:5071;transport=TLS'), { transport: 'tls', address: '127.0.0.1', port: 5071 });
    assert.deepEqual(await a.resolveTarget('sip:bob@127.0.0.1'), { transport: 'udp', address: '127.0.0.1', port: 5060 });
  });

  it('keeps the host name a TLS peer must be verified against', async () => {
    const a = new Addressing(listening('tls'), undefined);
    const t = await a.resolveTarget('sips:bob@localhost:5061');
    assert.equal(t.serverName, 'localhost');
    assert.equal(t.transport, 'tls');
  });

  it('refuses TLS without a TLS listener', async () => {
    const a = new Addressing(listening('udp', 'tcp'), undefined);
    await assert.rejects(a.resolveTarget('sips:bob@127.0.0.1'), /requested protocol\/transport not available: tls/);
    await assert.rejects(a.resolveTarget('sip:bob@127.0.0.1;transport=tls'), /not available: tls/);
  });

  it('names TLS in Via and Contact, and in an app Contact written @localhost', () => {
    const a = new Addressing(listening('tls'), undefined);
    assert.equal(a.viaFor(tlsLocal, 'z9hG4bK1'), 'SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bK1;rport');
    assert.equal(a.contactFor(tlsLocal), '<sip:127.0.0.1:5061;transport=tls>');
    assert.equal(a.replaceContactLocalhost('<sip:app@localhost>', tlsLocal), '<sip:app@127.0.0.1:5061;transport=tls>');
    assert.equal(a.replaceContactLocalhost('<sip:app@localhost;transport=tls>', tlsLocal), '<sip:app@127.0.0.1:5061;transport=tls>');
    assert.equal(a.replaceContactLocalhost('<sip:app@localhost>', { ...tlsLocal, transport: 'udp' }), '<sip:app@127.0.0.1:5061>');
  });

  it('answers a TLS request on its connection and reads a sips: Contact as TLS', () => {
    const a = new Addressing(listening('tls'), undefined);
    const source = { transport: 'tls' as const, address: '127.0.0.1', port: 40000 };
    assert.deepEqual(a.targetFromUriSync('<sips:bob@127.0.0.1>', source), { transport: 'tls', address: '127.0.0.1', port: 5061 });
    assert.deepEqual(a.targetFromUriSync('<sip:bob@127.0.0.1:5062;transport=tls>', { ...source, transport: 'udp' }),
      { transport: 'tls', address: '127.0.0.1', port: 5062 });
  });
});

describe('edge config: TLS listeners', () => {
  const sipOnly = (sip: unknown) => edgeSchema.shape.sip.safeParse(sip);
  it('takes a TLS listener with certificate and key files', () => {
    assert.ok(sipOnly([{ transport: 'tls', address: '0.0.0.0', port: 5061, certFile: '/c.pem', keyFile: '/k.pem', caFile: '/ca.pem', rejectUnauthorized: false }]).success);
  });
  it('refuses a TLS listener without them, and certificate keys on UDP/TCP', () => {
    assert.equal(sipOnly([{ transport: 'tls', address: '0.0.0.0', port: 5061 }]).success, false);
    assert.equal(sipOnly([{ transport: 'udp', address: '0.0.0.0', port: 5060, certFile: '/c.pem' }]).success, false);
  });
});
