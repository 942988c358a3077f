import { strict as assert } from 'node:assert';
import { testDatabaseUrl } from '../support/mariadb';
import { adminClient, eventually } from '../support/ops-product';
import { startProduct, type Product } from '../support/product';
import type { SippProcess } from '../support/sipp';
import {
  assertTalkTime, checkBooks, DIAL, faultConfig, isAlive, seedFaultWorld, startCallee, startCallers, supervisedPid, checkpointsPast } from '../support/fault-kit';

const LIVE_CALLS = 10;
const GRACE_SECONDS = 2;

describe('fault: the application child of tollgate start is killed (kill -9) during live calls', function () {
  this.timeout(90_000);
  let databaseUrl: string;
  let callee: SippProcess;
  let product: Product;

  before(async () => {
    databaseUrl = await testDatabaseUrl('faults_supervised_kill');
    callee = await startCallee('uas-answer.xml');
    await seedFaultWorld(databaseUrl, { answer: callee.localPort });
    product = await startProduct({ databaseUrl, config: faultConfig({ edge: { appDisconnectGraceSeconds: GRACE_SECONDS } }) });
  });

  after(async () => {
    await product?.stop();
    await callee?.stop();
  });

  it('the supervisor restarts the application, the edge stays and BYEs the calls, each billed to its real end', async () => {
    const supervisor = product.child.pid!;
    const edgePid = supervisedPid(supervisor, 'edge');
    const appPid = supervisedPid(supervisor, 'app');
    assert.ok(edgePid && appPid, 'tollgate start runs an edge and an application');
    const callers = await startCallers(product.sipPort, { calls: LIVE_CALLS, dialled: DIAL.answer });
    try {
      const sipCallIds = await callers.answered(LIVE_CALLS);
      await checkpointsPast(databaseUrl, LIVE_CALLS, 2);

      const killedAt = Date.now();
      process.kill(appPid, 'SIGKILL');
      const newAppPid = await eventually('the supervisor started the application again', async () => {
        const pid = supervisedPid(supervisor, 'app');
        return pid !== undefined && pid !== appPid ? pid : undefined;
      }, 15_000, 100);
      assert.ok(isAlive(newAppPid));

      const result = await callers.sipp.done;
      assert.equal(result.stats.successful, LIVE_CALLS, `every caller got a BYE: ${result.stdout.slice(-400)}`);
      const farEnd = callers.farEnd();
      for (const id of sipCallIds) {
        const byeAfter = (farEnd.get(id)!.endedAt! - killedAt) / 1000;
        assert.ok(byeAfter >= GRACE_SECONDS - 0.3 && byeAfter <= GRACE_SECONDS + 2, `${id}: BYE ${byeAfter.toFixed(3)} s after the kill, grace ${GRACE_SECONDS} s`);
      }
      assert.equal(supervisedPid(supervisor, 'edge'), edgePid, 'the same edge process kept the calls');
      assert.ok(isAlive(edgePid));
      await eventually('the restarted application is ready', async () => {
        const r = await adminClient(`http://127.0.0.1:${product.adminPort}`, product.adminToken).call('GET', '/ready', undefined, null);
        return r.status === 200;
      }, 15_000, 200);

      const calls = await checkBooks(databaseUrl, { sipCallIds, timeoutMs: 20_000 });
      for (const c of calls) assert.deepEqual([c.disposition, c.releaseCause], ['answered', 'instance_lost'], c.sipCallId);
      assertTalkTime(calls, farEnd, { label: 'kill -9 of the application under tollgate start' });
      assert.deepEqual(calls.filter((c) => !c.cdrNamesSipCallId).map((c) => c.sipCallId), [], "the recovered CDRs name the caller's Call-ID");
    } finally {
      await callers.stop();
    }
    assert.equal(await product.stop(), 0, 'tollgate start stops cleanly after the restart');
  });
});
