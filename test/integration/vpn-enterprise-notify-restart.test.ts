import { strict as assert } from 'node:assert';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { openDatabaseUrl, type Database } from '../../lib/db/database';
import { verifyWebhook, type SpendEvent } from '../../lib/notify';
import { allFarEndsAt, PEOPLE, PREFIX_OF, seedCallWorld, type FixtureIds } from '../support/call-fixture';
import { cdrOf, placeCall, startFarEnd, type FarEndProcess } from '../support/calls';
import { testDatabaseUrl } from '../support/mariadb';
import { startProduct, type Product } from '../support/product';

const WEBHOOK_SECRET = 'integration-webhook-secret';

/** Every outbox entry under the product's data folder (the instance's journal folder holds them). */
function outboxEntries(dataDir: string): string[] {
  const found: string[] = [];
  const walk = (dir: string, depth: number) => {
    if (depth > 6) return;
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p, depth + 1);
      else if (path.basename(dir) === 'notify-outbox' && e.name.endsWith('.json')) found.push(p);
    }
  };
  walk(dataDir, 0);
  return found;
}

async function until<T>(what: string, check: () => T | undefined | false, timeoutMs: number): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = check();
    if (v) return v;
    if (Date.now() > end) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('a spend notification outlives a restart: the receiver down, the application stopped and started, then the receiver up (MariaDB, SIPp)', function () {
  this.timeout(180_000);
  let db: Database;
  let far: FarEndProcess;
  let ids: FixtureIds;
  let first: Product | undefined;
  let second: Product | undefined;
  const hooks: Array<{ body: string; signature: string; key: string }> = [];
  const receiver = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => { body += c.toString(); });
    req.on('end', () => {
      hooks.push({ body, signature: String(req.headers['x-tollgate-signature']), key: String(req.headers['idempotency-key']) });
      res.writeHead(204).end();
    });
  });

  after(async () => {
    await second?.stop();
    await first?.stop();
    await far?.stop();
    await db?.close();
    if (receiver.listening) { receiver.closeAllConnections(); await new Promise((r) => receiver.close(r)); }
  });

  it('delivers the cut-off after the restart, under the key it was stored with, and then forgets it', async () => {
    const url = await testDatabaseUrl('vpn_notify_restart');
    db = await openDatabaseUrl(url);
    await db.migrate();
    far = await startFarEnd('uas-answer.xml', 'udp', 1000);
    ids = await seedCallWorld(db, allFarEndsAt(far.port), 'udp');
    // A free port with nothing listening on it: the receiver is down.
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    const { port } = receiver.address() as AddressInfo;
    await new Promise((r) => receiver.close(r));
    const config = {
      prepaid: { grantSeconds: 2, reauthLeadSeconds: 1 },
      notify: { webhook: { url: `http://127.0.0.1:${port}/spend`, secret: WEBHOOK_SECRET, maxAttempts: 100, backoffMs: 50, maxBackoffMs: 200, timeoutMs: 500 } },
    };
    first = await startProduct({ databaseUrl: url, config });

    const run = await placeCall({ scenario: 'uac-call-expect-bye.xml', caller: PEOPLE.poor.e164, dialled: `90${PREFIX_OF.timing.slice(2)}1234567`, transport: 'udp', sipPort: first.sipPort, timeoutMs: 30_000 });
    const cdr = await cdrOf(db, run.sipCallId);
    assert.equal(cdr.releaseCause, 'credit_exhausted', 'the call was cut off');
    const isCutOff = (body: string) => { const e = JSON.parse(body) as SpendEvent; return e.kind === 'cut_off' && e.callId === cdr.callId; };
    const stored = await until('the cut-off stored in the outbox', () => outboxEntries(first!.dataDir)
      .map((f) => JSON.parse(fs.readFileSync(f, 'utf8')) as { key: string; body: string }).find((x) => isCutOff(x.body)), 10_000);

    const reuse = { sipPort: first.sipPort, controlPort: first.controlPort, adminPort: first.adminPort, dataDir: first.dataDir };
    assert.equal(await first.stop(), 0, 'a clean stop');
    first = undefined;
    assert.equal(hooks.length, 0, 'nothing reached the receiver while it was down');
    assert.ok(outboxEntries(reuse.dataDir).length >= 1, 'the stop left the notification in the outbox');

    second = await startProduct({ databaseUrl: url, config, reuse });
    await new Promise<void>((resolve, reject) => { receiver.once('error', reject); receiver.listen(port, '127.0.0.1', resolve); });
    const hook = await until('the cut-off delivered after the restart', () => hooks.find((h) => isCutOff(h.body)), 20_000);
    assert.equal(hook.key, stored.key, 'the same idempotency key as before the restart');
    assert.ok(verifyWebhook(WEBHOOK_SECRET, hook.body, hook.signature), 'signed');
    const e = JSON.parse(hook.body) as SpendEvent & { id: string };
    assert.deepEqual([e.kind, e.subject.type, e.subject.id, e.id], ['cut_off', 'account', ids.accounts.poor, stored.key]);
    await until('the delivered entry removed from the outbox', () => outboxEntries(reuse.dataDir).length === 0, 10_000);
  });
});
