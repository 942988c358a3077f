import { strict as assert } from 'node:assert';
import { startMariaDb, type MariaDbServer } from '../support/mariadb';
import { startProduct, type Product } from '../support/product';
import type { SippProcess } from '../support/sipp';
import { assertDatabaseCutoffs, assertTalkTime, checkBooks, DIAL, faultConfig, seedFaultWorld, startCallee, startCallers, checkpointsPast } from '../support/fault-kit';

const LIVE_CALLS = 3;
const GRANT_SECONDS = 4;
const STATEMENT_TIMEOUT_MS = 1000;

/**
 * The database server stalls (mariadbd stopped with SIGSTOP: its sockets stay open and the kernel
 * takes what is written to them, so no error ever comes back). Only the statement timeout ends
 * the waits: a new call is refused at once, live calls end at their grant, and the books are
 * clean once the server resumes and runs, late, what it had received.
 */
describe('fault: the database stalls during live calls', function () {
  this.timeout(120_000);
  let server: MariaDbServer;
  let databaseUrl: string;
  let callee: SippProcess;
  let product: Product;
  let stalled = false;
  const resume = (): void => {
    if (stalled && server?.pid) process.kill(server.pid, 'SIGCONT');
    stalled = false;
  };

  before(async () => {
    // A server of this test's own: stalling the run's MariaDB would hold every other test.
    server = await startMariaDb();
    databaseUrl = await server.createDatabase('faults_db_stall');
    callee = await startCallee('uas-answer.xml');
    await seedFaultWorld(databaseUrl, { answer: callee.localPort });
    product = await startProduct({
      databaseUrl,
      config: faultConfig({ database: { statementTimeoutMs: STATEMENT_TIMEOUT_MS }, prepaid: { grantSeconds: GRANT_SECONDS, reauthLeadSeconds: 1 } }),
    });
  });

  after(async () => {
    resume();
    await product?.stop();
    await callee?.stop();
    await server?.destroy();
  });

  it('refuses a new call within the statement timeout, ends live calls at their grant, and the books are clean once the server resumes', async () => {
    const callers = await startCallers(product.sipPort, { calls: LIVE_CALLS, dialled: DIAL.answer });
    try {
      const sipCallIds = await callers.answered(LIVE_CALLS);
      await checkpointsPast(databaseUrl, LIVE_CALLS, 1);

      process.kill(server.pid!, 'SIGSTOP');
      stalled = true;
      const stalledAt = Date.now();
      // A call placed while the server stalls: refused (503), not left waiting on the database.
      const late = await startCallers(product.sipPort, { calls: 1, dialled: DIAL.answer, scenario: 'uac-expect-503.xml', timeoutMs: 30_000 });
      const refused = await late.sipp.done;
      const refusedAfter = (Date.now() - stalledAt) / 1000;
      assert.equal(refused.stats.successful, 1, `the new call got its 503: ${refused.stdout.slice(-400)}`);
      const lateCall = [...late.farEnd().values()][0]!;
      assert.equal(lateCall.finalStatus, 503);
      assert.ok(refusedAfter < 3 * STATEMENT_TIMEOUT_MS / 1000 + 3, `refused ${refusedAfter.toFixed(1)} s after the stall began`);

      const result = await callers.sipp.done;
      assert.equal(result.stats.successful, LIVE_CALLS, `every caller got a BYE: ${result.stdout.slice(-400)}`);
      const farEnd = callers.farEnd();
      assertDatabaseCutoffs(farEnd, sipCallIds, { since: stalledAt, withinSeconds: GRANT_SECONDS + 1 + STATEMENT_TIMEOUT_MS / 1000, what: 'the stall began' });
      assert.ok(product.child.exitCode === null, 'the product is still up');
      console.log(`      [database stall] new call refused ${refusedAfter.toFixed(2)} s into the stall; BYE Reasons: ${[...new Set([...farEnd.values()].map((c) => c.byeReason))].join(', ')}`);

      resume();
      const calls = await checkBooks(databaseUrl, { sipCallIds: [...sipCallIds, lateCall.callId], timeoutMs: 30_000 });
      const byCallId = new Map(calls.map((c) => [c.sipCallId, c]));
      for (const id of sipCallIds) assert.equal(byCallId.get(id)?.disposition, 'answered', id);
      const lateCdr = byCallId.get(lateCall.callId);
      assert.deepEqual([lateCdr?.disposition, lateCdr?.sipStatus], ['refused', 503], 'the refused call has its CDR, written once the server answered');
      assertTalkTime(calls.filter((c) => c.disposition === 'answered'), farEnd, { label: 'database stalled during calls' });
      await product.waitForLog((l) => l.message === 'database reachable again', 15_000);
    } finally {
      resume();
      await callers.stop();
    }
  });
});
