import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { silentLogger } from '../../../lib/common/logger';
import {
  FileNotificationOutbox, IDEMPOTENCY_HEADER, SIGNATURE_HEADER, SpendNotifier, idempotencyKey, verifyWebhook,
  type NotificationOutbox, type SpendEvent, type WebhookOptions,
} from '../../../lib/notify';

const SECRET = 'webhook-secret-of-the-outbox';

interface Received { body: string; key: string; signature: string }

/** A webhook receiver on loopback at a fixed port, which can be down (nothing listening) and brought up. */
async function receiverAtFreePort(): Promise<{ url: string; received: Received[]; up(): Promise<void>; close(): Promise<void> }> {
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => { body += c.toString(); });
    req.on('end', () => {
      received.push({ body, key: String(req.headers[IDEMPOTENCY_HEADER.toLowerCase()]), signature: String(req.headers[SIGNATURE_HEADER.toLowerCase()]) });
      res.writeHead(204).end();
    });
  });
  // Find a free port, then leave it closed: the receiver is down until up().
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return {
    url: `http://127.0.0.1:${port}/hook`, received,
    up: () => new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(port, '127.0.0.1', resolve); }),
    close: () => new Promise<void>((r) => { if (!server.listening) { r(); return; } server.closeAllConnections(); server.close(() => r()); }),
  };
}

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const options = (url: string, over: Partial<WebhookOptions> = {}): WebhookOptions => ({
  url, secret: SECRET, queueSize: 50, maxAttempts: 100, backoffMs: 10, maxBackoffMs: 40, timeoutMs: 300, ...over,
});
const event = (n: number): SpendEvent => (n % 2 === 0
  ? { kind: 'cut_off', subject: { type: 'account', id: 40 + n, group: 'acme' }, callId: `call-${n}`, available: '0.000000', at: '2026-12-01T10:00:00.000Z' }
  : { kind: 'low_balance', subject: { type: 'pool', id: 7, code: 'acme-pool', group: 'acme' }, callId: `call-${n}`, available: '0.900000', threshold: '1.000000', at: '2026-12-01T10:00:00.000Z' });

const entries = async (dir: string): Promise<string[]> => (await fs.readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith('.json'));

describe('spend notifications kept in an outbox across restarts', () => {
  let dir: string;
  beforeEach(async () => { dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tollgate-outbox-')); });
  afterEach(async () => { await fs.rm(dir, { recursive: true, force: true }); });

  it('when the receiver is down across a stop and a start, every event arrives after it is up, under the key it had before', async () => {
    const hook = await receiverAtFreePort();
    const first = new SpendNotifier(options(hook.url), silentLogger(), undefined, undefined, new FileNotificationOutbox(dir));
    const second = new SpendNotifier(options(hook.url), silentLogger(), undefined, undefined, new FileNotificationOutbox(dir));
    try {
      assert.equal(await first.start(), 0);
      const sent = [1, 2, 3, 4, 5].map(event);
      for (const e of sent) assert.equal(first.notify(e), true);
      const keys = sent.map(idempotencyKey).sort();
      await until('every event stored', async () => (await entries(dir)).length === sent.length);
      await first.stop(100);
      assert.equal(hook.received.length, 0, 'nothing reached the receiver while it was down');
      assert.equal((await entries(dir)).length, sent.length, 'the stop left every event in the outbox');

      assert.equal(await second.start(), sent.length, 'the next start takes them all back');
      await hook.up();
      await until('every event delivered', () => new Set(hook.received.map((r) => r.key)).size === sent.length);
      assert.deepEqual([...new Set(hook.received.map((r) => r.key))].sort(), keys, 'each under the same key as before the restart');
      for (const r of hook.received) {
        assert.ok(verifyWebhook(SECRET, r.body, r.signature), 'signed');
        assert.equal((JSON.parse(r.body) as { id: string }).id, r.key, 'the body carries the same key');
      }
      await until('delivered entries removed', async () => (await entries(dir)).length === 0);
    } finally {
      await first.stop(0);
      await second.stop(1000);
      await hook.close();
    }
    const third = new SpendNotifier(options(hook.url), silentLogger(), undefined, undefined, new FileNotificationOutbox(dir));
    assert.equal(await third.start(), 0, 'nothing delivered is sent again');
    await third.stop(0);
  });

  it('an event whose entry cannot be written is logged, counted and still delivered while the process lives', async () => {
    const failing: NotificationOutbox = {
      load: () => Promise.resolve({ entries: [], unreadable: [] }),
      add: () => Promise.reject(new Error('ENOSPC: no space left on device')),
      remove: () => Promise.resolve(),
    };
    const hook = await receiverAtFreePort();
    await hook.up();
    const notifier = new SpendNotifier(options(hook.url), silentLogger(), undefined, undefined, failing);
    try {
      assert.equal(notifier.notify(event(1)), true, 'queueing does not wait for the write');
      await until('delivered', () => notifier.stats.delivered === 1);
      await until('counted as not stored', () => notifier.stats.unwritten === 1);
    } finally {
      await notifier.stop(500);
      await hook.close();
    }
  });

  it('an entry that cannot be read is left in place and the others are taken back', async () => {
    const outbox = new FileNotificationOutbox(dir);
    await outbox.add({ key: 'low_balance:pool:7:call-1', body: '{"id":"low_balance:pool:7:call-1"}' }, 1);
    await fs.writeFile(path.join(dir, '000000000000000-000000000-broken.json'), '{"key": tru');
    const { entries: loaded, unreadable } = await outbox.load();
    assert.deepEqual(loaded.map((e) => e.key), ['low_balance:pool:7:call-1']);
    assert.deepEqual(unreadable, ['000000000000000-000000000-broken.json']);
  });
});
