import { strict as assert } from 'node:assert';
import { testDatabaseUrl } from '../support/mariadb';
import { eventually, startEdgeAndApp, type EdgeAndApp } from '../support/ops-product';
import { startProduct, type Product } from '../support/product';
import type { SippProcess } from '../support/sipp';
import { assertTalkTime, checkBooks, DIAL, faultConfig, seedFaultWorld, startCallee, startCallers, checkpointsPast } from '../support/fault-kit';

const LIVE_CALLS = 10;
const SIP_SERVER_LOST_SECONDS = 5;

describe('fault: the edge is killed (kill -9) during live calls', function () {
  this.timeout(90_000);
  let databaseUrl: string;
  let callee: SippProcess;
  let both: EdgeAndApp;
  /** The edge now running (the first one, or the one started after a kill). */
  let edge: Product | undefined;
  // The application waits this long for its SIP server to come back before it settles at the loss.
  const config = faultConfig({ calls: { sipServerLostSeconds: SIP_SERVER_LOST_SECONDS } });

  before(async () => {
    databaseUrl = await testDatabaseUrl('faults_edge_kill');
    callee = await startCallee('uas-answer.xml');
    await seedFaultWorld(databaseUrl, { answer: callee.localPort });
    both = await startEdgeAndApp(databaseUrl, config);
    edge = both.edge;
  });

  after(async () => {
    await both?.app.stop();
    await edge?.stop();
    await callee?.stop();
  });

  /** Live calls, checkpointed past 2 s, then the edge killed; returns the callers and when it died. */
  async function killEdgeDuringCalls() {
    const callers = await startCallers(edge!.sipPort, { calls: LIVE_CALLS, dialled: DIAL.answer });
    const sipCallIds = await callers.answered(LIVE_CALLS);
    await checkpointsPast(databaseUrl, LIVE_CALLS, 2);
    const gone = new Promise((resolve) => edge!.child.once('exit', (_c, s) => resolve(s)));
    const killedAt = Date.now();
    edge!.child.kill('SIGKILL');
    assert.equal(await gone, 'SIGKILL');
    return { callers, sipCallIds, killedAt };
  }

  it('restarted 2 s later on the same ports: every call is settled at the moment the edge was lost, never later', async () => {
    const { callers, sipCallIds, killedAt } = await killEdgeDuringCalls();
    try {
      // The operator's restart comes about 2 s later (the stimulus, not a wait for an outcome).
      await new Promise((r) => setTimeout(r, 2000));
      edge = await startProduct({ databaseUrl, config, command: 'edge', reuse: edge! });

      const calls = await checkBooks(databaseUrl, { sipCallIds, timeoutMs: 20_000 });
      for (const c of calls) assert.equal(c.disposition, 'answered', `${c.sipCallId}: ${c.releaseCause}`);
      console.log(`      [edge kill] release causes: ${[...new Set(calls.map((c) => c.releaseCause))].join(', ')}`);
      assertTalkTime(calls, callers.farEnd(), { label: 'kill -9 of the edge, restarted after 2 s', realEnd: () => killedAt });
      const byes = [...callers.farEnd().values()].filter((c) => c.endedAt !== undefined).length;
      console.log(`      [edge kill] callers that got a BYE after the restart: ${byes} of ${LIVE_CALLS} (the others wait for their own session timers)`);
      const live = await both.api.call('GET', '/calls');
      assert.equal(live.json.count, 0, 'the application runs none of the lost calls');
    } finally {
      await callers.stop();
    }
  });

  it(`not back within calls.sipServerLostSeconds: every call is settled at the moment the edge was lost`, async () => {
    await eventually('the application is connected to the restarted edge', async () => (await both.api.call('GET', '/ready', undefined, null)).status === 200, 15_000, 200);
    const { callers, sipCallIds, killedAt } = await killEdgeDuringCalls();
    edge = undefined;
    try {
      const calls = await checkBooks(databaseUrl, { sipCallIds, timeoutMs: SIP_SERVER_LOST_SECONDS * 1000 + 15_000 });
      const settledAfter = (Date.now() - killedAt) / 1000;
      for (const c of calls) assert.equal(c.disposition, 'answered', `${c.sipCallId}: ${c.releaseCause}`);
      console.log(`      [edge kill, no restart] release causes: ${[...new Set(calls.map((c) => c.releaseCause))].join(', ')}; settled ${settledAfter.toFixed(1)} s after the kill`);
      assertTalkTime(calls, callers.farEnd(), { label: 'kill -9 of the edge, not restarted', realEnd: () => killedAt });
      assert.equal((await both.api.call('GET', '/calls')).json.count, 0, 'the application runs none of the lost calls');
    } finally {
      await callers.stop();
    }
  });
});
