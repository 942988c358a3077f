import { strict as assert } from 'node:assert';
import { testDatabaseUrl } from '../support/mariadb';
import { eventually, readBooks, startEdgeAndApp, type EdgeAndApp } from '../support/ops-product';
import { startProduct, type Product } from '../support/product';
import type { SippProcess } from '../support/sipp';
import { assertTalkTime, checkBooks, DIAL, faultConfig, seedFaultWorld, startCallee, startCallers } from '../support/fault-kit';

const LIVE_CALLS = 10;

describe('fault: the edge is killed (kill -9) during live calls and restarted', function () {
  this.timeout(90_000);
  let databaseUrl: string;
  let callee: SippProcess;
  let both: EdgeAndApp;
  let restartedEdge: Product | undefined;
  // The application waits this long for its SIP server to come back before it settles at the loss.
  const config = faultConfig({ calls: { sipServerLostSeconds: 5 } });

  before(async () => {
    databaseUrl = await testDatabaseUrl('faults_edge_kill');
    callee = await startCallee('uas-answer.xml');
    await seedFaultWorld(databaseUrl, { answer: callee.localPort });
    both = await startEdgeAndApp(databaseUrl, config);
  });

  after(async () => {
    await both?.app.stop();
    await restartedEdge?.stop();
    await both?.edge.stop();
    await callee?.stop();
  });

  it('settles every call at the moment the edge was lost, never later, and the books are clean', async () => {
    const callers = await startCallers(both.edge.sipPort, { calls: LIVE_CALLS, dialled: DIAL.answer });
    try {
      const sipCallIds = await callers.answered(LIVE_CALLS);
      await eventually('every call checkpointed past 2 s', async () => {
        const books = await readBooks(databaseUrl);
        const active = [...books.reservations.values()].filter((r) => r.state === 'active');
        return active.length === LIVE_CALLS && active.every((r) => r.checkpointSeconds >= 2);
      }, 15_000, 200);

      const killedAt = Date.now();
      const gone = new Promise((resolve) => both.edge.child.once('exit', (_c, s) => resolve(s)));
      both.edge.child.kill('SIGKILL');
      assert.equal(await gone, 'SIGKILL');
      // The operator's restart comes about 2 s later, on the same ports (the stimulus, not a wait for an outcome).
      await new Promise((r) => setTimeout(r, 2000));
      restartedEdge = await startProduct({ databaseUrl, config, command: 'edge', reuse: both.edge });

      const calls = await checkBooks(databaseUrl, { sipCallIds, timeoutMs: 20_000 });
      for (const c of calls) assert.equal(c.disposition, 'answered', `${c.sipCallId}: ${c.releaseCause}`);
      console.log(`      [edge kill] release causes: ${[...new Set(calls.map((c) => c.releaseCause))].join(', ')}`);
      assertTalkTime(calls, callers.farEnd(), { label: 'kill -9 of the edge', realEnd: () => killedAt });
      const byes = [...callers.farEnd().values()].filter((c) => c.endedAt !== undefined).length;
      console.log(`      [edge kill] callers that got a BYE after the restart: ${byes} of ${LIVE_CALLS} (the others wait for their own session timers)`);
      const live = await both.api.call('GET', '/calls');
      assert.equal(live.json.count, 0, 'the application runs none of the lost calls');
    } finally {
      await callers.stop();
    }
  });
});
