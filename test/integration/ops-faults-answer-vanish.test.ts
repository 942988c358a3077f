import { strict as assert } from 'node:assert';
import { testDatabaseUrl } from '../support/mariadb';
import { adminClient, eventually } from '../support/ops-product';
import { startProduct, type Product } from '../support/product';
import type { SippProcess } from '../support/sipp';
import {
  assertTalkTime, checkBooks, DIAL, faultConfig, readMessageTrace, seedFaultWorld, startCallee, startCallers, type TracedMessage,
} from '../support/fault-kit';

const CALLS = 4;
const SESSION_INTERVAL = 4;
const MIN_SE = 2;

/** Session-Expires headers of each INVITE the vanishing callee received. */
function sessionExpiresPerInvite(messages: TracedMessage[]): number[] {
  const initial = (m: TracedMessage) => !m.headers.some((h) => /^(to|t)\s*:.*;\s*tag=/i.test(h));
  return messages.filter((m) => m.direction === 'received' && m.method === 'INVITE' && initial(m))
    .map((m) => m.headers.filter((h) => /^(session-expires|x)\s*:/i.test(h)).length);
}

describe('fault: a callee that answers (200) and then vanishes', function () {
  this.timeout(120_000);
  let databaseUrl: string;
  let answering: SippProcess;
  let vanishing: SippProcess & { messages(): TracedMessage[] };
  let product: Product | undefined;

  before(async () => {
    databaseUrl = await testDatabaseUrl('faults_answer_vanish');
    answering = await startCallee('uas-answer.xml');
    // No default behaviours: once gone it answers nothing, not even a BYE.
    vanishing = await startCallee('fault-uas-answer-timer-then-vanish.xml', { extraArgs: ['-default_behaviors', 'none'] });
    await seedFaultWorld(databaseUrl, { answer: answering.localPort, vanish: vanishing.localPort });
  });

  afterEach(async () => {
    await product?.stop();
    product = undefined;
  });

  after(async () => {
    await vanishing?.stop();
    await answering?.stop();
  });

  const modes = [
    { name: 'on the edge with its own session timers', edge: { enabled: true, interval: SESSION_INTERVAL, minSE: MIN_SE, refresher: 'uas' } },
    { name: 'on a SIP server that adds no session timers (edge timers off)', edge: { enabled: false, interval: 1800, minSE: 90, refresher: 'uas' } },
  ];
  for (const mode of modes) {
    it(`${mode.name}: the application's session timers end the call within the interval, billed to that end`, async () => {
      product = await startProduct({
        databaseUrl,
        config: faultConfig({
          edge: { sessionTimer: mode.edge },
          calls: { sessionTimer: { enabled: true, interval: SESSION_INTERVAL, minSE: MIN_SE, refresher: 'uas' } },
          prepaid: { grantSeconds: 30 },
        }),
      });
      const seenBefore = vanishing.messages().length;
      const callers = await startCallers(product.sipPort, { calls: CALLS, dialled: DIAL.vanish, timeoutMs: 40_000 });
      try {
        const result = await callers.sipp.done;
        const farEnd = callers.farEnd();
        const sipCallIds = [...farEnd.keys()];
        assert.equal(sipCallIds.length, CALLS);
        for (const c of farEnd.values()) {
          assert.ok(c.answeredAt !== undefined, `${c.callId} answered`);
          assert.equal(c.endedBy, 'network', `${c.callId}: the caller got a BYE`);
          const talk = (c.endedAt! - c.answeredAt) / 1000;
          assert.ok(talk <= SESSION_INTERVAL + 1, `${c.callId}: ended ${talk.toFixed(3)} s after the answer (session interval ${SESSION_INTERVAL} s)`);
        }
        assert.equal(result.stats.successful, CALLS, result.stdout.slice(-400));
        const perInvite = sessionExpiresPerInvite(vanishing.messages().slice(seenBefore));
        assert.equal(perInvite.length, CALLS);
        assert.ok(perInvite.every((n) => n === 1), `the callee's INVITE asks for one session timer, not two: ${perInvite.join(',')}`);

        const calls = await checkBooks(databaseUrl, { sipCallIds, timeoutMs: 15_000 });
        for (const c of calls) assert.equal(c.disposition, 'answered');
        console.log(`      [answer then vanish] release causes: ${[...new Set(calls.map((c) => c.releaseCause))].join(', ')}; Reasons: ${[...new Set([...farEnd.values()].map((c) => c.byeReason))].join(', ')}`);
        assertTalkTime(calls, farEnd, { label: `callee answers then vanishes, ${mode.name}` });
      } finally {
        await callers.stop();
      }
    });
  }

  it('a healthy call under the same session timers outlives two intervals: only a vanished leg ends early', async () => {
    const sessionTimer = { enabled: true, interval: SESSION_INTERVAL, minSE: MIN_SE, refresher: 'uas' };
    product = await startProduct({ databaseUrl, config: faultConfig({ edge: { sessionTimer: { ...sessionTimer, enabled: false } }, calls: { sessionTimer }, prepaid: { grantSeconds: 30 } }) });
    const api = adminClient(`http://127.0.0.1:${product.adminPort}`, product.adminToken);
    const callers = await startCallers(product.sipPort, { calls: 2, dialled: DIAL.answer, timeoutMs: 40_000 });
    try {
      const sipCallIds = await callers.answered(2);
      const answeredAt = Math.max(...sipCallIds.map((id) => callers.farEnd().get(id)!.answeredAt!));
      // Two intervals of refreshes, watched: a call that expired would show its BYE in the trace.
      await eventually('two session intervals passed', async () => Date.now() - answeredAt > 2 * SESSION_INTERVAL * 1000 || undefined, 3 * SESSION_INTERVAL * 1000, 200);
      assert.deepEqual([...callers.farEnd().values()].filter((c) => c.endedAt !== undefined).map((c) => c.callId), [], 'no healthy call ended by its session timer');
      const refreshes = readMessageTrace(callers.traceFile).filter((m) => m.direction === 'received' && (m.method === 'UPDATE' || m.method === 'INVITE'));
      for (const id of sipCallIds) assert.ok(refreshes.filter((m) => m.callId === id).length >= 2, `${id}: the application refreshed the caller's session`);
      const live = (await api.call('GET', '/calls')).json.calls as Array<{ callId: string }>;
      assert.equal(live.length, 2);
      for (const c of live) assert.equal((await api.call('DELETE', `/calls/${encodeURIComponent(c.callId)}`)).status, 200);
      const result = await callers.sipp.done;
      assert.equal(result.stats.successful, 2, result.stdout.slice(-400));
      const calls = await checkBooks(databaseUrl, { sipCallIds, timeoutMs: 15_000 });
      for (const c of calls) assert.deepEqual([c.disposition, c.releaseCause], ['answered', 'admin']);
      assertTalkTime(calls, callers.farEnd(), { label: 'healthy call under short session timers, ended by the operator' });
    } finally {
      await callers.stop();
    }
  });
});
