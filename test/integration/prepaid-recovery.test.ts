import { strict as assert } from 'node:assert';
import { parseMoney as m } from '../../lib/common/money';
import { MemorySettlementJournal, settleKey } from '../../lib/prepaid';
import { tenSecondSteps, creditControl, fundedAccount, openPrepaidDb, type PrepaidDb } from '../support/prepaid-fixtures';

describe('prepaid after an instance crashes', function () {
  this.timeout(60_000);
  let p: PrepaidDb;
  const tariff = tenSecondSteps();
  before(async () => { p = await openPrepaidDb('mariadb'); });
  after(async () => { await p?.close(); });

  it('settles a dead instance\'s calls at their last checkpoint, releases its unanswered ones, and leaves live instances alone', async () => {
    const crashed = creditControl(p.repo, 'crash-a');
    await crashed.start();
    const account = await fundedAccount(crashed, '20');
    for (const callId of ['crash-1', 'crash-2', 'crash-3', 'crash-ringing']) {
      assert.ok((await crashed.authorise({ callId, accountId: account.id, pricer: tariff })).granted);
    }
    for (const callId of ['crash-1', 'crash-2', 'crash-3']) await crashed.answer(callId, tariff);
    await crashed.checkpoint('crash-1', 40);
    await crashed.checkpoint('crash-2', 95);
    // crash-3 was answered but never reached a checkpoint.
    await crashed.stop(); // the process dies: no settlement, no more heartbeats

    const alive = creditControl(p.repo, 'crash-alive');
    await alive.start();
    assert.ok((await alive.authorise({ callId: 'alive-1', accountId: account.id, pricer: tariff })).granted);

    const later = () => new Date(Date.now() + 60_000);
    const rescuer = creditControl(p.repo, 'crash-b', {}, { clock: later });
    await alive.beat();
    // The live instance's heartbeat is now; only crash-a is older than the 30 s limit seen from `later`.
    await p.repo.heartbeat('crash-alive', later());
    assert.equal(await rescuer.recoverDeadInstances(30_000), 4);
    assert.equal(await rescuer.recoverDeadInstances(30_000), 0, 'a second recovery finds nothing');

    const after = await rescuer.accounts.require(account.id);
    assert.equal(after.balance, m('20') - tariff.price(40) - tariff.price(95));
    assert.equal(after.liveCalls, 1, 'the live instance\'s call is untouched');
    assert.equal(after.reserved, tariff.price(300));
    assert.equal((await p.repo.findReservation('crash-1'))!.state, 'recovered');
    assert.equal((await p.repo.findReservation('crash-ringing'))!.state, 'released');
    assert.equal((await p.repo.findReservation('alive-1'))!.state, 'active');
    for (const a of await p.repo.auditAccounts()) assert.ok(a.ok, `account ${a.code} consistent`);

    // The crashed process had journalled crash-1's true end (70 s) before dying; on its return the
    // replay charges the rest beyond the checkpoint, once.
    const journal = new MemorySettlementJournal();
    await journal.append({ kind: 'settle', key: settleKey('crash-1'), callId: 'crash-1', accountId: account.id, reservationId: 1, seconds: 70, charge: tariff.price(70).toString(), at: new Date().toISOString() });
    const returned = creditControl(p.repo, 'crash-a', {}, { journal });
    assert.equal((await returned.replayJournal()).applied, 1);
    await journal.append({ kind: 'settle', key: settleKey('crash-1'), callId: 'crash-1', accountId: account.id, reservationId: 1, seconds: 70, charge: tariff.price(70).toString(), at: new Date().toISOString() });
    assert.equal((await returned.replayJournal()).applied, 1);
    const final = await rescuer.accounts.require(account.id);
    assert.equal(final.balance, m('20') - tariff.price(70) - tariff.price(95), 'charged to the true length, once');
    await alive.settle('alive-1', 0).catch(() => undefined);
    await alive.stop();
  });
});
