import assert from 'node:assert/strict';
import path from 'node:path';
import { parseMoney } from '../../lib/common/money';
import { testDatabaseUrl } from '../support/mariadb';
import { freePort } from '../support/ports';
import { startSipp, type SippProcess } from '../support/sipp';
import {
  ALICE, edgeCounters, eventually, injectionFile, readBooks, seedOpsDatabase, startEdgeAndApp, type EdgeAndApp,
} from '../support/ops-product';

const SCENARIOS = path.resolve(__dirname, '../../../scenarios');
const LIVE_CALLS = 4;

async function liveAnsweredCalls(both: EdgeAndApp, n: number): Promise<string[]> {
  return eventually(`${n} answered calls`, async () => {
    const r = await both.api.call('GET', '/calls');
    const calls = (r.json.calls as Array<{ callId: string; state: string }> | undefined) ?? [];
    const answered = calls.filter((c) => c.state === 'answered').map((c) => c.callId);
    return answered.length === n ? answered : undefined;
  }, 15_000);
}

function startCallers(both: EdgeAndApp, n: number): Promise<SippProcess> {
  return startSipp({
    scenario: { file: path.join(SCENARIOS, 'uac-call-expect-bye.xml') }, target: `127.0.0.1:${both.edge.sipPort}`, transport: 'udp',
    injection: injectionFile(Array.from({ length: n }, () => [ALICE, '9030555123'] as [string, string])), calls: n, rate: 20, limit: n, timeoutMs: 60_000,
  });
}

describe('graceful shutdown on SIGTERM', function () {
  this.timeout(120_000);
  let databaseUrl: string;
  let carrier: SippProcess;
  let both: EdgeAndApp;
  let edgeMetricsPort: number;
  const drainSeconds = 3;

  before(async () => {
    databaseUrl = await testDatabaseUrl('ops_sigterm');
    carrier = await startSipp({ scenario: { file: path.join(SCENARIOS, 'uas-answer.xml') }, transport: 'udp', timeoutMs: 115_000 });
    await seedOpsDatabase(databaseUrl, { carrier: carrier.localPort });
    edgeMetricsPort = await freePort('tcp');
    both = await startEdgeAndApp(databaseUrl, { calls: { drainSeconds }, metrics: { edge: { enabled: true, address: '127.0.0.1', port: edgeMetricsPort } } });
  });

  after(async () => {
    await both?.stop();
    await carrier?.stop();
  });

  it('refuses new calls with 503, gives live calls the drain time, then ends and settles them with exact books', async () => {
    const before = await readBooks(databaseUrl);
    const callers = await startCallers(both, LIVE_CALLS);
    try {
      const callIds = await liveAnsweredCalls(both, LIVE_CALLS);
      // Past the tariff's 3 free seconds, so every call costs money.
      await new Promise((r) => setTimeout(r, 4000));

      const sigtermAt = Date.now();
      const exited = new Promise<number | null>((resolve) => both.app.child.once('exit', (code) => resolve(code)));
      both.app.child.kill('SIGTERM');
      await both.app.waitForLog((l) => l.message === 'application stopping');

      const ready = await both.api.call('GET', '/ready', undefined, null);
      assert.equal(ready.status, 503, 'a draining instance is not ready');
      assert.equal(ready.json.draining, true);
      const late = await startSipp({
        scenario: { file: path.join(SCENARIOS, 'uac-expect-503.xml') }, target: `127.0.0.1:${both.edge.sipPort}`, transport: 'udp',
        injection: injectionFile([[ALICE, '9030555123']]), calls: 1, timeoutMs: 10_000,
      });
      const lateResult = await late.done;
      assert.equal(lateResult.stats.successful, 1, 'a call offered during the drain gets 503');
      assert.equal((await both.api.call('GET', '/calls')).json.count, LIVE_CALLS, 'live calls run on during the drain');

      assert.equal(await exited, 0, 'the application exits cleanly');
      const drainedMs = Date.now() - sigtermAt;
      assert.ok(drainedMs >= drainSeconds * 1000 - 200, `the calls had the drain time (${drainedMs} ms)`);
      const result = await callers.done;
      assert.equal(result.stats.successful, LIVE_CALLS, 'every caller got a BYE');
      assert.equal((await edgeCounters(edgeMetricsPort)).liveDialogs, 0, 'no dialog left on the edge');

      const books = await readBooks(databaseUrl);
      assert.equal(books.openReservations, 0);
      assert.equal(books.reservedTotal, 0n);
      assert.deepEqual(books.unbalanced, []);
      let total = 0n;
      for (const id of callIds) {
        const cdr = books.cdrs.get(id);
        assert.equal(cdr?.releaseCause, 'shutdown', `call ${id}`);
        assert.ok(cdr.billableSeconds >= 4 + drainSeconds - 1, `billable ${cdr.billableSeconds}`);
        assert.ok(cdr.cost > 0n);
        assert.equal(books.charges.get(id), cdr.cost, 'the CDR cost equals the ledger charge');
        total += cdr.cost;
      }
      const charged = [...books.charges.values()].reduce((s, v) => s + v, 0n) - [...before.charges.values()].reduce((s, v) => s + v, 0n);
      assert.equal(charged, total, 'nothing else was charged');
      // The call offered during the drain is a refusal like any other: a CDR with its code, no money.
      const refusedCdrs = [...books.cdrs.values()].filter((c) => c.disposition === 'refused');
      assert.equal(refusedCdrs.length, 1, 'one CDR for the call refused during the drain');
      assert.equal(refusedCdrs[0]!.cost, 0n);
      assert.equal(refusedCdrs[0]!.releaseCause, 'refused');
    } finally {
      await callers.stop();
    }

    // The restart finds nothing open and settles nothing more.
    await both.restartApp();
    const ready = await eventually('ready after the restart', async () => {
      const r = await both.api.call('GET', '/ready', undefined, null);
      return r.status === 200 ? r : undefined;
    });
    assert.equal(ready.json.ready, true);
    const books = await readBooks(databaseUrl);
    assert.equal(books.openReservations, 0);
    assert.deepEqual([...books.reservations.values()].filter((r) => r.state === 'recovered'), []);
    const alice = await both.api.call('GET', '/accounts/acme-alice');
    const costs = [...books.cdrs.values()].reduce((s, c) => s + c.cost, 0n);
    assert.equal(parseMoney(String(alice.json.balance)), parseMoney('10.00') - costs, "Alice's balance is her top-up less her calls' CDR costs");
  });
});
