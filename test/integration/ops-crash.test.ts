import assert from 'node:assert/strict';
import path from 'node:path';
import { testDatabaseUrl } from '../support/mariadb';
import { freePort } from '../support/ports';
import { startSipp, type SippProcess } from '../support/sipp';
import {
  ALICE, edgeCounters, eventually, injectionFile, readBooks, seedOpsDatabase, startEdgeAndApp, type EdgeAndApp,
} from '../support/ops-product';

const SCENARIOS = path.resolve(__dirname, '../../../scenarios');
const LIVE_CALLS = 3;

describe('restart without loss after the application is killed', function () {
  this.timeout(120_000);
  let databaseUrl: string;
  let carrier: SippProcess;
  let both: EdgeAndApp;
  let edgeMetricsPort: number;

  before(async () => {
    databaseUrl = await testDatabaseUrl('ops_sigkill');
    carrier = await startSipp({ scenario: { file: path.join(SCENARIOS, 'uas-answer.xml') }, transport: 'udp', timeoutMs: 115_000 });
    await seedOpsDatabase(databaseUrl, { carrier: carrier.localPort });
    edgeMetricsPort = await freePort('tcp');
    // Heartbeat and checkpoints every second, an instance is dead after 3 s without a heartbeat,
    // and the edge ends the calls of a lost application after 1 s.
    both = await startEdgeAndApp(databaseUrl, {
      prepaid: { heartbeatSeconds: 1, checkpointSeconds: 1, instanceStaleSeconds: 3 },
      edge: { appDisconnectGraceSeconds: 1 },
      metrics: { edge: { enabled: true, address: '127.0.0.1', port: edgeMetricsPort } },
    });
  });

  after(async () => {
    await both?.stop();
    await carrier?.stop();
  });

  it('settles the reservations of the killed instance to the end the edge recorded and leaves no call on the edge', async () => {
    const callers = await startSipp({
      scenario: { file: path.join(SCENARIOS, 'uac-call-expect-bye.xml') }, target: `127.0.0.1:${both.edge.sipPort}`, transport: 'udp',
      injection: injectionFile(Array.from({ length: LIVE_CALLS }, () => [ALICE, '9030555123'] as [string, string])),
      calls: LIVE_CALLS, rate: 20, limit: LIVE_CALLS, timeoutMs: 60_000,
    });
    try {
      const callIds = await eventually('answered calls', async () => {
        const r = await both.api.call('GET', '/calls');
        const calls = (r.json.calls as Array<{ callId: string; state: string }> | undefined) ?? [];
        const answered = calls.filter((c) => c.state === 'answered').map((c) => c.callId);
        return answered.length === LIVE_CALLS ? answered : undefined;
      }, 15_000);
      // Let a few checkpoints past the free seconds reach the database.
      await eventually('checkpoints with money in them', async () => {
        const books = await readBooks(databaseUrl);
        return callIds.every((id) => (books.reservations.get(id)?.checkpointAmount ?? 0n) > 0n);
      }, 15_000, 200);

      const killed = new Promise<NodeJS.Signals | null>((resolve) => both.app.child.once('exit', (_c, s) => resolve(s)));
      both.app.child.kill('SIGKILL');
      assert.equal(await killed, 'SIGKILL');
      const atKill = await readBooks(databaseUrl);
      for (const id of callIds) assert.equal(atKill.reservations.get(id)?.state, 'active', 'a killed instance settles nothing');

      // The edge ends the calls of the lost application: both far ends get a BYE.
      const result = await callers.done;
      assert.equal(result.stats.successful, LIVE_CALLS, 'every caller got a BYE from the edge');
      const counters = await eventually('no dialog left on the edge', async () => {
        const c = await edgeCounters(edgeMetricsPort);
        return c.liveDialogs === 0 ? c : undefined;
      });
      assert.ok(counters.disconnectByes >= LIVE_CALLS * 2, `BYEs for the lost application: ${counters.disconnectByes}`);

      // The restarted application (a new instance) settles the dead one's reservations.
      await both.restartApp();
      const books = await eventually('reservations of the dead instance recovered', async () => {
        const b = await readBooks(databaseUrl);
        return b.openReservations === 0 ? b : undefined;
      }, 20_000, 250);
      for (const id of callIds) {
        const before = atKill.reservations.get(id)!;
        const after = books.reservations.get(id)!;
        assert.equal(after.state, 'recovered', `call ${id}`);
        // Settled to the end the edge recorded (its BYE after the 1 s grace), not to the last
        // checkpoint: at most a checkpoint period, the grace and the rounding up beyond it.
        assert.ok(after.settledSeconds! >= before.checkpointSeconds, `settled ${after.settledSeconds} s, checkpoint ${before.checkpointSeconds} s`);
        assert.ok(after.settledSeconds! <= before.checkpointSeconds + 4, `settled ${after.settledSeconds} s, checkpoint ${before.checkpointSeconds} s`);
        assert.ok(after.charged! >= before.checkpointAmount, 'never less than the checkpoint');
        assert.ok(before.checkpointAmount > 0n);
        assert.equal(books.charges.get(id), after.charged, 'one ledger charge of that amount');
      }
      const withCdrs = await eventually('CDRs of the recovered calls', async () => {
        const b = await readBooks(databaseUrl);
        return callIds.every((id) => b.cdrs.has(id)) ? b : undefined;
      }, 10_000, 250);
      for (const id of callIds) {
        const cdr = withCdrs.cdrs.get(id)!;
        assert.equal(cdr.releaseCause, 'instance_lost');
        assert.equal(cdr.disposition, 'answered');
        assert.equal(cdr.cost, withCdrs.reservations.get(id)!.charged, 'the CDR cost is the recovered charge');
        assert.equal(cdr.billableSeconds, withCdrs.reservations.get(id)!.settledSeconds);
        assert.ok(cdr.ledgerKey);
      }
      assert.equal(books.reservedTotal, 0n, 'no money left reserved');
      assert.deepEqual(books.unbalanced, []);
      const alice = await both.api.call('GET', '/accounts/acme-alice');
      assert.equal(alice.json.reserved, '0.000000');
      assert.equal(alice.json.liveCalls, 0);
      assert.equal((await both.api.call('GET', '/calls')).json.count, 0, 'the new instance runs no call of the old one');
    } finally {
      await callers.stop();
    }
  });
});
