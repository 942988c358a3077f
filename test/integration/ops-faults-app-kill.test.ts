import { strict as assert } from 'node:assert';
import { testDatabaseUrl } from '../support/mariadb';
import { startEdgeAndApp, type EdgeAndApp } from '../support/ops-product';
import type { SippProcess } from '../support/sipp';
import { assertTalkTime, checkBooks, DIAL, faultConfig, seedFaultWorld, startCallee, startCallers, checkpointsPast } from '../support/fault-kit';

const LIVE_CALLS = 10;
const GRACE_SECONDS = 2;

describe('fault: the application (tollgate app) is killed (kill -9) during live calls', function () {
  this.timeout(90_000);
  let databaseUrl: string;
  let callee: SippProcess;
  let both: EdgeAndApp;

  before(async () => {
    databaseUrl = await testDatabaseUrl('faults_app_kill');
    callee = await startCallee('uas-answer.xml');
    await seedFaultWorld(databaseUrl, { answer: callee.localPort });
    both = await startEdgeAndApp(databaseUrl, faultConfig({ edge: { appDisconnectGraceSeconds: GRACE_SECONDS } }));
  });

  after(async () => {
    await both?.stop();
    await callee?.stop();
  });

  it('the edge BYEs both legs after its grace and the restarted application bills each call to that real end', async () => {
    const callers = await startCallers(both.edge.sipPort, { calls: LIVE_CALLS, dialled: DIAL.answer });
    try {
      const sipCallIds = await callers.answered(LIVE_CALLS);
      await checkpointsPast(databaseUrl, LIVE_CALLS, 2);

      const killedAt = Date.now();
      const gone = new Promise((resolve) => both.app.child.once('exit', (_c, s) => resolve(s)));
      both.app.child.kill('SIGKILL');
      assert.equal(await gone, 'SIGKILL');

      const result = await callers.sipp.done;
      assert.equal(result.stats.successful, LIVE_CALLS, `every caller got a BYE from the edge: ${result.stdout.slice(-400)}`);
      const farEnd = callers.farEnd();
      for (const id of sipCallIds) {
        const byeAfter = (farEnd.get(id)!.endedAt! - killedAt) / 1000;
        assert.equal(farEnd.get(id)!.endedBy, 'network');
        assert.ok(byeAfter >= GRACE_SECONDS - 0.3 && byeAfter <= GRACE_SECONDS + 2, `${id}: BYE ${byeAfter.toFixed(3)} s after the kill, grace ${GRACE_SECONDS} s`);
      }

      await both.restartApp();
      const calls = await checkBooks(databaseUrl, { sipCallIds, timeoutMs: 20_000 });
      for (const c of calls) assert.deepEqual([c.disposition, c.releaseCause], ['answered', 'instance_lost'], c.sipCallId);
      assertTalkTime(calls, farEnd, { label: 'kill -9 of tollgate app' });
      assert.deepEqual(calls.filter((c) => !c.cdrNamesSipCallId).map((c) => c.sipCallId), [], "the recovered CDRs name the caller's Call-ID");
    } finally {
      await callers.stop();
    }
  });
});
