import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { silentLogger } from '../../../lib/common/logger';
import { IDEMPOTENCY_HEADER, SIGNATURE_HEADER, SpendNotifier, verifyWebhook, type SpendEvent, type WebhookOptions } from '../../../lib/notify';

const SECRET = 'webhook-secret';

interface Received { body: string; key: string; signature: string; attempt: string }

/** A webhook receiver on loopback answering each request with the next status of a script (then the last one); 0 never answers. */
async function receiver(statuses: number[]): Promise<{ url: string; received: Received[]; close(): Promise<void> }> {
  const received: Received[] = [];
  const hanging: http.ServerResponse[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => { body += c.toString(); });
    req.on('end', () => {
      received.push({ body, key: String(req.headers[IDEMPOTENCY_HEADER.toLowerCase()]), signature: String(req.headers[SIGNATURE_HEADER.toLowerCase()]), attempt: String(req.headers['x-tollgate-attempt']) });
      const status = statuses[Math.min(received.length - 1, statuses.length - 1)]!;
      if (status === 0) { hanging.push(res); return; }
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`, received,
    close: () => new Promise<void>((r) => { for (const h of hanging) h.destroy(); server.closeAllConnections(); server.close(() => r()); }),
  };
}

async function until(what: string, check: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const options = (url: string, over: Partial<WebhookOptions> = {}): WebhookOptions => ({
  url, secret: SECRET, queueSize: 10, maxAttempts: 4, backoffMs: 20, maxBackoffMs: 80, timeoutMs: 300, ...over,
});
const event = (n: number, kind: SpendEvent['kind'] = 'low_balance'): SpendEvent => ({
  kind, subject: { type: 'pool', id: 7, code: 'acme-pool', group: 'acme' }, callId: `call-${n}`, available: '0.900000', threshold: '1.000000', at: '2026-12-01T10:00:00.000Z',
});

describe('spend notifications by webhook', () => {
  it('POSTs the event as JSON, signed with HMAC-SHA256 under the shared secret, with an idempotency key', async () => {
    const hook = await receiver([204]);
    const notifier = new SpendNotifier(options(hook.url), silentLogger());
    try {
      assert.equal(notifier.notify(event(1)), true);
      await until('delivered', () => notifier.stats.delivered === 1);
      const [r] = hook.received;
      assert.ok(verifyWebhook(SECRET, r!.body, r!.signature), 'the signature verifies');
      assert.equal(verifyWebhook('another secret', r!.body, r!.signature), false, 'and only under the secret');
      assert.equal(verifyWebhook(SECRET, r!.body.replace('0.9', '9.9'), r!.signature), false, 'and only for this body');
      const body = JSON.parse(r!.body) as SpendEvent & { id: string };
      assert.deepEqual([body.kind, body.subject.group, body.callId, body.id], ['low_balance', 'acme', 'call-1', r!.key]);
    } finally {
      await notifier.stop(100);
      await hook.close();
    }
  });

  it('retries a 503 and a timeout with back-off under the same key until the receiver takes it (at least once)', async () => {
    const hook = await receiver([503, 0, 200]);
    const notifier = new SpendNotifier(options(hook.url), silentLogger());
    try {
      notifier.notify(event(2, 'cut_off'));
      await until('delivered', () => notifier.stats.delivered === 1);
      assert.equal(hook.received.length, 3);
      assert.deepEqual(new Set(hook.received.map((r) => r.key)).size, 1, 'one key for every attempt');
      assert.deepEqual(hook.received.map((r) => r.attempt), ['1', '2', '3']);
    } finally {
      await notifier.stop(100);
      await hook.close();
    }
  });

  it('gives up after maxAttempts, and at once on a 4xx that retrying cannot fix', async () => {
    const down = await receiver([500]);
    const refusing = await receiver([400]);
    const a = new SpendNotifier(options(down.url, { maxAttempts: 3 }), silentLogger());
    const b = new SpendNotifier(options(refusing.url), silentLogger());
    try {
      a.notify(event(3));
      b.notify(event(4));
      await until('both given up', () => a.stats.failed === 1 && b.stats.failed === 1);
      assert.equal(down.received.length, 3);
      assert.equal(refusing.received.length, 1);
    } finally {
      await a.stop(100);
      await b.stop(100);
      await down.close();
      await refusing.close();
    }
  });

  it('never blocks the caller: a hanging receiver fills the bounded queue and the rest is dropped and counted', async () => {
    const hook = await receiver([0]);
    const notifier = new SpendNotifier(options(hook.url, { queueSize: 3, timeoutMs: 2000 }), silentLogger());
    try {
      const started = process.hrtime.bigint();
      const queued = [1, 2, 3, 4, 5].map((n) => notifier.notify(event(n)));
      const tookMs = Number(process.hrtime.bigint() - started) / 1e6;
      assert.deepEqual(queued, [true, true, true, false, false]);
      assert.equal(notifier.stats.dropped, 2);
      assert.ok(tookMs < 100, `notify returned in ${tookMs} ms`);
    } finally {
      await notifier.stop(50);
      await hook.close();
    }
  });

  it('without a webhook configured it only logs', () => {
    const notifier = new SpendNotifier(null, silentLogger());
    assert.equal(notifier.notify(event(9)), false);
    assert.deepEqual(notifier.stats, { queued: 0, delivered: 0, failed: 0, dropped: 0, unwritten: 0, restored: 0 });
  });
});
