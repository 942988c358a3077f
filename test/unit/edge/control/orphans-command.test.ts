import assert from 'node:assert/strict';
import net from 'node:net';
import { silentLogger } from '../../../../lib/common/logger';
import { ControlServer } from '../../../../lib/edge/control/control-server';
import { ControlFramer, frameControlMessage } from '../../../../lib/edge/control/framing';

/** A raw control client: sends framed messages, collects framed answers. */
async function client(port: number): Promise<{ send(body: string): void; next(): Promise<string>; closed: Promise<void>; end(): void }> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
  const framer = new ControlFramer();
  const queue: string[] = [];
  const waiters: Array<(s: string) => void> = [];
  socket.on('data', (d) => {
    for (const m of framer.push(d)) { const w = waiters.shift(); if (w) w(m); else queue.push(m); }
  });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return {
    send: (body) => socket.write(frameControlMessage(body)),
    next: () => new Promise((resolve, reject) => {
      const q = queue.shift();
      if (q !== undefined) { resolve(q); return; }
      const t = setTimeout(() => reject(new Error('no answer')), 3000);
      waiters.push((s) => { clearTimeout(t); resolve(s); });
    }),
    closed,
    end: () => socket.destroy(),
  };
}

describe('tollgate:orphans on the control link', () => {
  let server: ControlServer;
  let port: number;
  let asked: string[][] = [];
  before(async () => {
    server = new ControlServer({
      secret: 's', hostports: () => 'udp/127.0.0.1:5060', sip: () => undefined, disconnected: () => undefined, routed: () => undefined, proxy: () => undefined,
      orphans: (ids) => { asked.push(ids); return { now: 5, dialogs: ids.length ? { [ids[0]]: { endedAt: 4, how: 'bye-received' } } : {} }; },
    }, silentLogger());
    port = await server.listen('127.0.0.1', 0);
  });
  after(async () => { await server.close(); });
  beforeEach(() => { asked = []; });

  it('answers a drachtio response whose tokens start with OK and whose text after the CRLF is the JSON', async () => {
    const c = await client(port);
    try {
      c.send('m1|authenticate|s|');
      assert.match(await c.next(), /\|response\|m1\|OK\|/);
      c.send('m2|tollgate:orphans\r\nx;from-tag=1\r\ny;from-tag=2\n');
      const answer = await c.next();
      const crlf = answer.indexOf('\r\n');
      const tokens = answer.slice(0, crlf).split('|');
      assert.deepEqual(tokens.slice(1), ['response', 'm2', 'OK']);
      assert.deepEqual(JSON.parse(answer.slice(crlf + 2)), { now: 5, dialogs: { 'x;from-tag=1': { endedAt: 4, how: 'bye-received' } } });
      assert.deepEqual(asked, [['x;from-tag=1', 'y;from-tag=2']]);
      c.send('m3|tollgate:orphans');
      const all = await c.next();
      assert.equal(all.slice(all.indexOf('\r\n') + 2), '{"now":5,"dialogs":{}}');
      assert.deepEqual(asked[1], []);
    } finally { c.end(); }
  });

  it('still closes the connection on an unknown verb', async () => {
    const c = await client(port);
    c.send('m1|authenticate|s|');
    await c.next();
    c.send('m2|tollgate:nonsense');
    assert.match(await c.next(), /\|response\|m2\|NO\|Unknown message type/);
    await c.closed;
  });
});
