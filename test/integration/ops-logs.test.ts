/**
 * What the running processes log in ordinary operation: no reload line when nothing changed, no
 * warning for an orderly stop, and an edge run alone that shrugs off SIGHUP.
 */
import { strict as assert } from 'node:assert';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../app/config/load';
import { openDatabaseUrl, type Database } from '../../lib/db/database';
import { PrepaidRepository } from '../../lib/db/prepaid-repository';
import { VpnRepository } from '../../lib/db/vpn-repository';
import { DirectoryReloader, VpnService } from '../../lib/vpn';
import { allFarEndsAt, PEOPLE, seedCallWorld } from '../support/call-fixture';
import { placeCall, startFarEnd } from '../support/calls';
import { captureLogs } from '../support/log-capture';
import { testDatabaseUrl } from '../support/mariadb';
import { startProduct, type LogLine, type Product } from '../support/product';

async function until(what: string, condition: () => boolean, timeoutMs = 15_000): Promise<void> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const complaints = (logs: LogLine[]) => logs.filter((l) => l.level === 'warn' || l.level === 'error' || l.level === 'raw').map((l) => `${l.level} ${l.process ?? ''} ${l.message}`);

describe('log lines of ordinary operation', function () {
  this.timeout(90_000);

  describe('the VPN directory on SQLite', () => {
    let dir: string;
    let db: Database;
    before(async () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tg-ops-logs-'));
      db = await openDatabaseUrl(`sqlite:${path.join(dir, 'tollgate.sqlite')}`);
      await db.migrate();
    });
    after(async () => {
      await db?.close();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    it('is loaded again only when a VPN table changed, not at every heartbeat the application writes', async () => {
      const { logger, lines } = captureLogs();
      const loaded = () => lines.filter((l) => l.message === 'VPN directory loaded').length;
      const repo = new VpnRepository(db);
      const reloader = new DirectoryReloader(VpnService.empty(loadConfig({ env: {} }).numbering), repo, { intervalMs: 60_000, logger });
      await reloader.start();
      reloader.stop();
      assert.equal(loaded(), 1);
      const prepaid = new PrepaidRepository(db);
      for (let i = 0; i < 3; i++) {
        // The application's own writes on the same connection: heartbeats and an account.
        await prepaid.heartbeat('instance-a', new Date());
        if (i === 0) await prepaid.createAccount({ code: 'acme-alice', kind: 'prepaid', currency: 'EUR' }, new Date());
        assert.equal(await reloader.checkNow(), 'unchanged');
      }
      assert.equal(loaded(), 1);
      await repo.addTrunk({ name: 'pbx', host: '192.0.2.10', addresses: ['192.0.2.10'], paiTrusted: false, servesMembers: true, maxCalls: null, enabled: true });
      assert.equal(await reloader.checkNow(), 'reloaded');
      await repo.updateTrunk('pbx', { maxCalls: 5 });
      assert.equal(await reloader.checkNow(), 'reloaded');
      await repo.removeTrunk('pbx');
      assert.equal(await reloader.checkNow(), 'reloaded');
      assert.equal(loaded(), 4);
    });
  });

  describe('processes on MariaDB', () => {
    let url: string;
    before(async () => {
      url = await testDatabaseUrl('ops_logs');
      const db = await openDatabaseUrl(url);
      await db.migrate();
      await db.close();
    });

    for (const how of ['SIGTERM to the supervisor', 'SIGINT to the whole process group (Ctrl-C)'] as const) {
      it(`an orderly stop by ${how} logs no warning and exits 0`, async () => {
        const product: Product = await startProduct({ databaseUrl: url, detached: true });
        try {
          await product.waitForLog((l) => l.message === 'connected to the SIP server');
          if (how.startsWith('SIGTERM')) product.child.kill('SIGTERM');
          else process.kill(-product.child.pid!, 'SIGINT');
          await until('tollgate to exit', () => product.child.exitCode !== null || product.child.signalCode !== null, 40_000);
          const tail = product.logs.slice(-25).map((l) => JSON.stringify(l)).join('\n');
          assert.equal(product.child.exitCode, 0, tail);
          assert.ok(product.logs.some((l) => l.message === 'application stopped'), `the application stopped in order:\n${tail}`);
          assert.deepEqual(complaints(product.logs), []);
        } finally {
          await product.stop('SIGKILL');
        }
      });
    }

    it('an orderly stop by SIGINT to the process group during a live call, the edge with no drain time of its own, logs no warning and exits 0', async () => {
      const db = await openDatabaseUrl(url);
      const far = await startFarEnd('uas-answer.xml', 'udp');
      let product: Product | undefined;
      try {
        await seedCallWorld(db, allFarEndsAt(far.port), 'udp');
        product = await startProduct({ databaseUrl: url, detached: true, config: { edge: { drainSeconds: 0 }, calls: { drainSeconds: 2 } } });
        const p = product;
        const call = placeCall({ scenario: 'uac-call-expect-bye.xml', caller: PEOPLE.alice.e164, dialled: PEOPLE.bob.ext, transport: 'udp', sipPort: p.sipPort, timeoutMs: 20_000 });
        await p.waitForLog((l) => l.message === 'call answered');
        process.kill(-p.child.pid!, 'SIGINT');
        await until('tollgate to exit', () => p.child.exitCode !== null || p.child.signalCode !== null, 40_000);
        await call;
        assert.equal(p.child.exitCode, 0);
        assert.ok(p.logs.some((l) => l.message === 'application stopped'));
        assert.deepEqual(complaints(p.logs), []);
      } finally {
        await product?.stop('SIGKILL');
        await far.stop();
        await db.close();
      }
    });

    it('`tollgate edge` run alone survives SIGHUP, still serves SIP, and stops in order', async () => {
      const edge = await startProduct({ databaseUrl: url, command: 'edge', detached: true });
      try {
        edge.child.kill('SIGHUP');
        await edge.waitForLog((l) => l.message === 'SIGHUP ignored: the edge has nothing to reload');
        assert.equal(edge.child.exitCode, null);
        assert.equal(edge.child.signalCode, null);
        await new Promise<void>((resolve, reject) => {
          const s = net.connect(edge.sipPort, '127.0.0.1', () => { s.end(); resolve(); });
          s.once('error', reject);
        });
        edge.child.kill('SIGTERM');
        await until('the edge to exit', () => edge.child.exitCode !== null || edge.child.signalCode !== null, 30_000);
        assert.equal(edge.child.exitCode, 0);
        assert.deepEqual(complaints(edge.logs), []);
      } finally {
        await edge.stop('SIGKILL');
      }
    });
  });
});
