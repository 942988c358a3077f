import assert from 'node:assert/strict';
import path from 'node:path';
import mysql from 'mysql2/promise';
import { testDatabaseUrl } from '../support/mariadb';
import { startProduct, type Product } from '../support/product';
import { startSipp, type SippProcess } from '../support/sipp';
import { adminClient, eventually, metricSum, parseMetrics, readBooks, seedOpsDatabase, startAnsweredAndRefused } from '../support/ops-product';

const SCENARIOS = path.resolve(__dirname, '../../../scenarios');

describe('tollgate start with two application processes (supervisor.applications: 2) against one edge', function () {
  this.timeout(120_000);
  let databaseUrl: string;
  let carrier: SippProcess;
  let product: Product;
  let instances: string[];

  before(async () => {
    databaseUrl = await testDatabaseUrl('ops_applications');
    carrier = await startSipp({ scenario: { file: path.join(SCENARIOS, 'uas-answer.xml') }, transport: 'udp', timeoutMs: 115_000 });
    await seedOpsDatabase(databaseUrl, { carrier: carrier.localPort });
    product = await startProduct({ databaseUrl, config: { supervisor: { applications: 2 } } });
    // startProduct returns once the first is up; both announce themselves with their own instance.
    instances = await eventually('both application processes started', async () => {
      const ids = product.logs.filter((l) => l.message === 'application started').map((l) => String(l.instanceId));
      return new Set(ids).size === 2 ? [...new Set(ids)].sort() : undefined;
    }, 30_000);
  });

  after(async () => {
    await product?.stop();
    await carrier?.stop();
  });

  it('shares the calls between both, each settling and writing the CDRs of its own calls: the books are exact', async () => {
    assert.equal(instances.length, 2);
    assert.ok(instances[1]!.startsWith(instances[0]!) || instances[0]!.startsWith(instances[1]!), `the second id is derived from the first: ${instances.join(', ')}`);
    // Each application serves its admin API on its own port: admin.port, admin.port + 1.
    const apis = [0, 1].map((i) => adminClient(`http://127.0.0.1:${product.adminPort + i}`, product.adminToken));
    const answered = 8; // under the account's 10 concurrent calls; held past the tariff's free seconds
    const refused = 4;
    const { callers, broke } = await startAnsweredAndRefused(product.sipPort, { answered, refused, holdMs: 4000 });
    const [c, b] = await Promise.all([callers.done, broke.done]);
    assert.equal(c.stats.successful, answered, c.stdout.slice(-800));
    assert.equal(b.stats.successful, refused, b.stdout.slice(-800));

    const u = new URL(databaseUrl);
    const byInstance = await eventually('every CDR written', async () => {
      const conn = await mysql.createConnection({ host: u.hostname, port: Number(u.port), user: 'root', database: u.pathname.slice(1) });
      try {
        const [rows] = await conn.query('SELECT instance_id, disposition, COUNT(*) AS n FROM cdrs GROUP BY instance_id, disposition') as unknown as [Array<{ instance_id: string; disposition: string; n: number }>];
        return rows.reduce((s, r) => s + Number(r.n), 0) === answered + refused ? rows : undefined;
      } finally {
        await conn.end();
      }
    }, 20_000);
    const answeredBy = (id: string) => byInstance.filter((r) => r.instance_id === id && r.disposition === 'answered').reduce((s, r) => s + Number(r.n), 0);
    assert.deepEqual([...new Set(byInstance.map((r) => r.instance_id))].sort(), instances, 'CDRs of both instances, no other');
    for (const id of instances) assert.ok(answeredBy(id) > 0, `instance ${id} answered some calls: ${JSON.stringify(byInstance)}`);
    assert.equal(answeredBy(instances[0]!) + answeredBy(instances[1]!), answered);

    const books = await eventually('books settled', async () => {
      const bk = await readBooks(databaseUrl);
      return bk.openReservations === 0 ? bk : undefined;
    });
    assert.deepEqual(books.unbalanced, []);
    assert.equal(books.reservedTotal, 0n);
    const charged = [...books.cdrs.entries()].filter(([, cdr]) => cdr.disposition === 'answered');
    assert.equal(charged.length, answered);
    assert.ok(charged.some(([, cdr]) => cdr.cost > 0n), 'calls were charged');
    for (const [callId, cdr] of charged) {
      assert.ok(cdr.billableSeconds >= 1, `call ${callId} was metered`);
      assert.equal(books.charges.get(callId) ?? 0n, cdr.cost, `call ${callId}: CDR cost = ledger charge`);
    }
    // Each process counted only its own calls.
    const offered = await Promise.all(apis.map(async (api) => {
      const r = await api.call('GET', '/metrics');
      assert.equal(r.status, 200);
      return metricSum(parseMetrics(r.text), 'tollgate_calls_offered_total');
    }));
    assert.ok(offered.every((n) => n > 0), `both offered calls: ${offered.join(', ')}`);
    assert.equal(offered[0]! + offered[1]!, answered + refused);
  });

  it('stops both applications and the edge cleanly on SIGTERM', async () => {
    assert.equal(await product.stop(), 0);
    const stopped = product.logs.filter((l) => l.message === 'application stopped');
    assert.equal(stopped.length, 2);
  });
});
