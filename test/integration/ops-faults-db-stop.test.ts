import { strict as assert } from 'node:assert';
import { startMariaDb, type MariaDbServer } from '../support/mariadb';
import { startProduct, type Product } from '../support/product';
import type { SippProcess } from '../support/sipp';
import { assertDatabaseCutoffs, assertTalkTime, checkBooks, DIAL, faultConfig, seedFaultWorld, startCallee, startCallers, checkpointsPast } from '../support/fault-kit';

const LIVE_CALLS = 5;
const GRANT_SECONDS = 4;

describe('fault: the database stops during live calls', function () {
  this.timeout(120_000);
  let server: MariaDbServer;
  let databaseUrl: string;
  let callee: SippProcess;
  let product: Product;

  before(async () => {
    // A server of this test's own: stopping the run's MariaDB would take every other test down.
    server = await startMariaDb();
    databaseUrl = await server.createDatabase('faults_db_stop');
    callee = await startCallee('uas-answer.xml');
    await seedFaultWorld(databaseUrl, { answer: callee.localPort });
    product = await startProduct({ databaseUrl, config: faultConfig({ prepaid: { grantSeconds: GRANT_SECONDS, reauthLeadSeconds: 1 } }) });
  });

  after(async () => {
    await product?.stop();
    await callee?.stop();
    await server?.destroy();
  });

  it('ends live calls at their grant saying the database is unavailable, and the journalled settlements clean the books once it is back', async () => {
    const callers = await startCallers(product.sipPort, { calls: LIVE_CALLS, dialled: DIAL.answer });
    try {
      const sipCallIds = await callers.answered(LIVE_CALLS);
      await checkpointsPast(databaseUrl, LIVE_CALLS, 1);

      await server.stop();
      // Grants extended while it was going down still run to their end: count from when it is gone.
      const stoppedAt = Date.now();
      const result = await callers.sipp.done;
      assert.equal(result.stats.successful, LIVE_CALLS, `every caller got a BYE: ${result.stdout.slice(-400)}`);
      const farEnd = callers.farEnd();
      assertDatabaseCutoffs(farEnd, sipCallIds, { since: stoppedAt, withinSeconds: GRANT_SECONDS + 1, what: 'the database stopped' });
      console.log(`      [database stop] Reasons: ${[...new Set([...farEnd.values()].map((c) => c.byeReason))].join(', ')}`);

      await server.start();
      const calls = await checkBooks(databaseUrl, { sipCallIds, timeoutMs: 30_000 });
      for (const c of calls) assert.equal(c.disposition, 'answered', c.sipCallId);
      console.log(`      [database stop] release causes: ${[...new Set(calls.map((c) => c.releaseCause))].join(', ')}`);
      assertTalkTime(calls, farEnd, { label: 'database stopped during calls' });

      // The outage in the log: one warning when it went, one line with its length when it came back.
      const back = await product.waitForLog((l) => l.message === 'database reachable again', 15_000);
      assert.ok(Number(back.downSeconds) > 0, JSON.stringify(back));
      assert.equal(product.logs.filter((l) => String(l.message).startsWith('database unreachable')).length, 1);
      const pollerWarnings = product.logs.filter((l) => l.level === 'warn' && /heartbeat failed|reload failed|tables unreadable/.test(String(l.message)));
      assert.deepEqual(pollerWarnings, [], 'the pollers do not repeat the outage');
    } finally {
      await callers.stop();
    }
  });
});
