import { strict as assert } from 'node:assert';
import { testDatabaseUrl } from '../support/mariadb';
import { startProduct, type Product } from '../support/product';
import type { SippProcess } from '../support/sipp';
import { assertTalkTime, checkBooks, DIAL, faultConfig, seedFaultWorld, startCallee, startCallers } from '../support/fault-kit';

const CALLS = 5;
const NO_ANSWER_SECONDS = 3;

describe('fault: a callee that rings (180) and then vanishes', function () {
  this.timeout(90_000);
  let databaseUrl: string;
  let answering: SippProcess;
  let vanishing: SippProcess;
  let product: Product;

  before(async () => {
    databaseUrl = await testDatabaseUrl('faults_ring_vanish');
    answering = await startCallee('uas-answer.xml');
    // No default behaviours: it answers nothing after its 180, not even the CANCEL.
    vanishing = await startCallee('fault-uas-ring-then-vanish.xml', { extraArgs: ['-default_behaviors', 'none'] });
    await seedFaultWorld(databaseUrl, { answer: answering.localPort, silent: vanishing.localPort });
    product = await startProduct({ databaseUrl, config: faultConfig({ calls: { noAnswerSeconds: NO_ANSWER_SECONDS } }) });
  });

  after(async () => {
    await product?.stop('SIGKILL');
    await vanishing?.stop();
    await answering?.stop();
  });

  it('the caller gets a final response within the no-answer time, nothing stays reserved, one CDR each, no charge', async () => {
    const callers = await startCallers(product.sipPort, { calls: CALLS, dialled: DIAL.silent, scenario: 'fault-uac-ring-expect-final.xml', timeoutMs: 30_000 });
    const result = await callers.sipp.done;
    const farEnd = callers.farEnd();
    const sipCallIds = [...farEnd.keys()];
    assert.equal(sipCallIds.length, CALLS);
    for (const c of farEnd.values()) {
      assert.ok(c.finalStatus !== undefined, `${c.callId}: the caller got a final response`);
      const after = (c.finalAt! - c.invitedAt) / 1000;
      assert.ok(after <= NO_ANSWER_SECONDS + 1.5, `${c.callId}: final ${c.finalStatus} ${after.toFixed(3)} s after the INVITE (no-answer ${NO_ANSWER_SECONDS} s)`);
    }
    console.log(`      [ring then vanish] final responses: ${[...new Set([...farEnd.values()].map((c) => `${c.finalStatus} ${c.finalReason ?? ''}`))].join(', ')}`);
    assert.equal(result.stats.successful, CALLS, result.stdout.slice(-400));

    const calls = await checkBooks(databaseUrl, { sipCallIds, timeoutMs: 15_000 });
    for (const c of calls) assert.deepEqual([c.disposition, c.cost, c.billableSeconds], ['no_answer', 0n, 0], `${c.sipCallId}: ${c.releaseCause}`);
    assertTalkTime(calls, farEnd, { label: 'callee rings then vanishes' });
    assert.equal(await product.stop(), 0, 'the application drains and stops whatever the silent far end does');
  });
});
