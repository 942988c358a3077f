import { strict as assert } from 'node:assert';
import { testDatabaseUrl } from '../support/mariadb';
import { startProduct, type Product } from '../support/product';
import type { SippProcess } from '../support/sipp';
import {
  assertTalkTime, checkBooks, DIAL, faultConfig, isAlive, seedFaultWorld, startCallee, startCallers, supervisedPid, checkpointsPast } from '../support/fault-kit';

const LIVE_CALLS = 6;
const DRAIN_SECONDS = 2;

describe('fault: SIGINT or SIGTERM to the whole process group of tollgate start, twice', function () {
  this.timeout(120_000);
  let databaseUrl: string;
  let callee: SippProcess;
  let product: Product | undefined;

  before(async () => {
    databaseUrl = await testDatabaseUrl('faults_group_signals');
    callee = await startCallee('uas-answer.xml');
    await seedFaultWorld(databaseUrl, { answer: callee.localPort });
  });

  afterEach(async () => {
    // A detached group is out of the harness's reach: whatever is left of it goes here.
    if (product?.child.pid) try { process.kill(-product.child.pid, 'SIGKILL'); } catch { /* the group has exited */ }
    product = undefined;
  });

  after(async () => {
    await callee?.stop();
  });

  it('a storm of SIGTERMs to the group, one a millisecond until it has exited: every process still exits 0, none is killed on its way out', async () => {
    // A process that ends by itself lets its signal handlers go while Node tears it down; a SIGTERM
    // in that moment killed it (the edge, as the supervisor SIGTERMs it right when the application
    // exits). A signal every millisecond lands in that moment nearly every time.
    product = await startProduct({ databaseUrl, detached: true, config: faultConfig({ calls: { drainSeconds: DRAIN_SECONDS } }) });
    const group = product.child.pid!;
    const pids = [group, supervisedPid(group, 'edge'), supervisedPid(group, 'app')];
    assert.ok(pids.every((p) => p !== undefined), 'the supervisor, the edge and the application run');
    const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => product!.child.once('exit', (code, sig) => resolve([code, sig])));
    let sent = 0;
    const until = Date.now() + 30_000;
    let gone = false;
    void exited.then(() => { gone = true; });
    while (!gone && sent < 30_000 && Date.now() < until) {
      try { process.kill(-group, 'SIGTERM'); sent++; } catch { break; } // the group has gone
      await new Promise((r) => setTimeout(r, 1));
    }
    const [code, sig] = await Promise.race([exited, new Promise<['hung', null]>((r) => setTimeout(() => r(['hung', null]), 30_000))]);
    const logs = product.logs;
    const why = logs.filter((l) => /stop|exit/i.test(l.message)).map((l) => JSON.stringify(l)).join('\n');
    assert.ok(sent > 1, `signals kept coming while it stopped (${sent})`);
    assert.deepEqual([code, sig], [0, null], `tollgate start exits 0 after ${sent} SIGTERMs:\n${why}`);
    assert.ok(pids.every((p) => !isAlive(p!)), 'every process has exited');
    assert.deepEqual(logs.filter((l) => l.message === 'process stopped').map((l) => [l.process, l.code, l.signal]).sort(), [['app', 0, null], ['edge', 0, null]], why);
    assert.ok(logs.some((l) => l.message === 'stopped' && l.clean === true), why);
    assert.deepEqual(logs.filter((l) => l.level === 'error').map((l) => l.message), [], 'nothing went wrong on the way down');
  });

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`${signal} (as from a terminal or systemd): the application drains, BYEs every call, settles it exactly, and every process exits 0`, async () => {
      product = await startProduct({ databaseUrl, detached: true, config: faultConfig({ calls: { drainSeconds: DRAIN_SECONDS } }) });
      const group = product.child.pid!;
      const edgePid = supervisedPid(group, 'edge');
      const appPid = supervisedPid(group, 'app');
      assert.ok(edgePid && appPid);
      const callers = await startCallers(product.sipPort, { calls: LIVE_CALLS, dialled: DIAL.answer });
      try {
        const sipCallIds = await callers.answered(LIVE_CALLS);
        await checkpointsPast(databaseUrl, LIVE_CALLS, 1);

        const exited = new Promise<number | null>((resolve) => product!.child.once('exit', (code) => resolve(code)));
        const signalledAt = Date.now();
        process.kill(-group, signal);
        await new Promise((r) => setTimeout(r, 200)); // the second press, as an impatient operator gives it
        let secondDelivered = true;
        try { process.kill(-group, signal); } catch { secondDelivered = false; }
        assert.ok(secondDelivered, 'the group was still draining when the second signal came');
        const code = await Promise.race([exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 30_000))]);
        assert.equal(code, 0, `tollgate start exits 0 (${signal} twice to the group)`);
        assert.ok(!isAlive(edgePid) && !isAlive(appPid), 'edge and application have exited');
        const logs = product.logs;
        assert.ok(logs.some((l) => l.message === 'application stopped'), 'the application finished its drain');
        // The supervisor logs every exit of the stop with its code and signal, whether it stopped the
        // process or the process ended its own drain first.
        const why = logs.filter((l) => /stop|exit|signal/i.test(l.message)).map((l) => JSON.stringify(l)).join('\n');
        assert.ok(logs.some((l) => l.message === 'stopped' && l.clean === true), `edge and application exit 0, neither killed by a signal:\n${why}`);
        assert.deepEqual(logs.filter((l) => l.message === 'process stopped').map((l) => [l.process, l.code, l.signal]).sort(), [['app', 0, null], ['edge', 0, null]], why);
        assert.deepEqual(logs.filter((l) => l.level === 'error').map((l) => l.message), [], 'nothing went wrong on the way down');

        const result = await callers.sipp.done;
        assert.equal(result.stats.successful, LIVE_CALLS, `every caller got a BYE: ${result.stdout.slice(-400)}`);
        const farEnd = callers.farEnd();
        for (const id of sipCallIds) {
          const byeAfter = (farEnd.get(id)!.endedAt! - signalledAt) / 1000;
          assert.ok(byeAfter <= DRAIN_SECONDS + 2, `${id}: BYE ${byeAfter.toFixed(3)} s after the signal (drain ${DRAIN_SECONDS} s)`);
        }
        const calls = await checkBooks(databaseUrl, { sipCallIds, timeoutMs: 10_000 });
        for (const c of calls) assert.deepEqual([c.disposition, c.releaseCause], ['answered', 'shutdown'], c.sipCallId);
        assertTalkTime(calls, farEnd, { label: `${signal} twice to the process group` });
      } finally {
        await callers.stop();
      }
    });
  }
});
