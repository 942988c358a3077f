import assert from 'node:assert/strict';
import net from 'node:net';
import { batchSocketWrites, WriteBatcher } from '../../../lib/common/write-batch';

/** A loopback TCP pair; the server side collects what arrives. */
async function pair(): Promise<{ client: net.Socket; received: () => string; waitFor: (bytes: number) => Promise<void>; close: () => void }> {
  let data = '';
  const waiters: Array<() => void> = [];
  const server = net.createServer((s) => s.on('data', (d) => { data += d.toString(); for (const w of waiters.splice(0)) w(); }));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const client = net.connect({ port, host: '127.0.0.1' });
  await new Promise<void>((r) => client.once('connect', () => r()));
  const waitFor = async (bytes: number) => {
    const deadline = Date.now() + 5000;
    while (Buffer.byteLength(data) < bytes) {
      if (Date.now() > deadline) throw new Error(`only ${Buffer.byteLength(data)} of ${bytes} bytes arrived`);
      await new Promise<void>((r) => { waiters.push(r); setTimeout(r, 50); });
    }
  };
  return { client, received: () => data, waitFor, close: () => { client.destroy(); server.close(); } };
}

/** Counts the calls into the socket's write path (one per system call: _write or _writev). */
function countWriteCalls(socket: net.Socket): { calls: number } {
  const counter = { calls: 0 };
  const s = socket as unknown as { _write: (...a: unknown[]) => void; _writev: (...a: unknown[]) => void };
  const write = s._write.bind(socket);
  const writev = s._writev.bind(socket);
  s._write = (...a) => { counter.calls++; write(...a); };
  s._writev = (...a) => { counter.calls++; writev(...a); };
  return counter;
}

const turn = () => new Promise<void>((r) => setImmediate(() => setImmediate(r)));

describe('WriteBatcher', () => {
  it('sends the writes of one loop turn in one call, in order, and later writes in another', async () => {
    const p = await pair();
    try {
      const batcher = new WriteBatcher();
      const counter = countWriteCalls(p.client);
      const parts = Array.from({ length: 50 }, (_, i) => `message ${i};`);
      for (const m of parts) batcher.write(p.client, m);
      assert.equal(counter.calls, 0, 'nothing is written before the end of the turn');
      await turn();
      assert.equal(counter.calls, 1);
      batcher.write(p.client, 'late;');
      batcher.write(p.client, Buffer.from('bytes;'));
      await turn();
      assert.equal(counter.calls, 2);
      const expected = parts.join('') + 'late;bytes;';
      await p.waitFor(Buffer.byteLength(expected));
      assert.equal(p.received(), expected);
      assert.equal(batcher.batches, 2);
      assert.equal(batcher.coalescedWrites, 52);
    } finally { p.close(); }
  });

  it('skips a socket destroyed while held, flushes one ended while held, and batches the others', async () => {
    const a = await pair();
    const b = await pair();
    try {
      const batcher = new WriteBatcher();
      batcher.write(a.client, 'lost');
      batcher.write(b.client, 'one;');
      a.client.destroy();
      batcher.write(b.client, 'two;');
      await turn();
      await b.waitFor(8);
      assert.equal(b.received(), 'one;two;');
      batcher.write(b.client, 'three;');
      b.client.end();   // end() while held sends what was held
      await turn();
      await b.waitFor(14);
      assert.equal(b.received(), 'one;two;three;');
    } finally { a.close(); b.close(); }
  });

  it('flush() sends what is held at once, so a socket destroyed right after loses nothing', async () => {
    const p = await pair();
    try {
      const batcher = new WriteBatcher();
      batcher.write(p.client, 'last words;');
      batcher.flush();
      p.client.destroy();
      await p.waitFor(11);
      assert.equal(p.received(), 'last words;');
      await turn();   // the scheduled flush finds nothing left and does no harm
    } finally { p.close(); }
  });

  it('batchSocketWrites routes a socket\'s own write() through the batcher, with its callback, once', async () => {
    const p = await pair();
    try {
      const batcher = new WriteBatcher();
      batchSocketWrites(p.client, batcher);
      batchSocketWrites(p.client, batcher);   // a second call does not wrap twice
      const counter = countWriteCalls(p.client);
      let callbacks = 0;
      for (let i = 0; i < 10; i++) p.client.write(`${i}#`, () => { callbacks++; });
      assert.equal(counter.calls, 0);
      await turn();
      assert.equal(counter.calls, 1);
      await p.waitFor(20);
      assert.equal(p.received(), '0#1#2#3#4#5#6#7#8#9#');
      const deadline = Date.now() + 5000;
      while (callbacks < 10 && Date.now() < deadline) await turn();
      assert.equal(callbacks, 10);
      assert.equal(batcher.coalescedWrites, 10);
    } finally { p.close(); }
  });
});
