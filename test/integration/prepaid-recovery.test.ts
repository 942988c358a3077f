import { strict as assert } from 'node:assert';
import { Writable } from 'node:stream';
import { QueryTypes } from 'sequelize';
import winston from 'winston';
import { parseMoney as m } from '../../lib/common/money';
import { PrepaidRepository } from '../../lib/db/prepaid-repository';
import { MemorySettlementJournal, settleKey, type CallPricer, type OrphanEnds, type RecoveredCall } from '../../lib/prepaid';
import {
  fixedTariff, perSecond, tenSecondSteps, creditControl, fundedAccount, openPrepaidDb, type Backend, type PrepaidDb,
} from '../support/prepaid-fixtures';

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

const dialogsOf = (callId: string): string[] => [`${callId}-in;from-tag=a1`, `${callId}-out;from-tag=b2`];

/** Statements the database is sent while `fn` runs. */
async function statementsOf(p: PrepaidDb, fn: () => Promise<unknown>): Promise<number> {
  let n = 0;
  p.db.sequelize.addHook('beforeQuery', 'count-statements', () => { n++; });
  try {
    await fn();
  } finally {
    p.db.sequelize.removeHook('beforeQuery', 'count-statements');
  }
  return n;
}

/** A logger whose warnings the test can read. */
function capturingLogger(): { logger: winston.Logger; warnings: string[] } {
  const warnings: string[] = [];
  const stream = new Writable({ write(chunk: Buffer, _enc, done) { warnings.push(chunk.toString()); done(); } });
  return { logger: winston.createLogger({ level: 'warn', format: winston.format.json(), transports: [new winston.transports.Stream({ stream })] }), warnings };
}

for (const backend of ['mariadb', 'sqlite'] as Backend[]) {
  describe(`prepaid orphans settled to their real end (${backend})`, function () {
    this.timeout(60_000);
    let p: PrepaidDb;
    const clock = { now: new Date() };
    const later = (seconds: number): void => { clock.now = new Date(clock.now.getTime() + seconds * 1000); };
    const tariff = perSecond();
    before(async () => { p = await openPrepaidDb(backend); });
    after(async () => { await p?.close(); });

    it('stores the recovery info with the answer, in the statement that already records it', async () => {
      const cc = creditControl(p.repo, `answer-${backend}`, {}, { clock: () => clock.now });
      const account = await fundedAccount(cc, '50');
      const dear = fixedTariff({ pricePerIncrement: '0.02', firstStepSeconds: 60 });
      // The plain answer (same price: one UPDATE) and a re-priced one (the 'answer' step).
      for (const [path, answerTariff] of [['plain', tariff], ['repriced', dear]] as Array<[string, CallPricer]>) {
        const without = `${path}-without-${backend}`;
        const withInfo = `${path}-with-${backend}`;
        for (const callId of [without, withInfo]) assert.ok((await cc.authorise({ callId, accountId: account.id, pricer: tariff })).granted);
        const plainCount = await statementsOf(p, () => cc.answer(without, answerTariff));
        const withCount = await statementsOf(p, () => cc.answer(withInfo, answerTariff, { dialogs: dialogsOf(withInfo), rating: `{"tariff":"${path}"}` }));
        assert.ok(plainCount >= 1);
        assert.equal(withCount, plainCount, `${path}: recording the recovery info costs no extra statement`);
        assert.deepEqual((await p.repo.findReservation(withInfo))!.recovery, { dialogs: dialogsOf(withInfo), rating: `{"tariff":"${path}"}` });
        assert.equal((await p.repo.findReservation(without))!.recovery, null);
        const [row] = await p.db.sequelize.query<{ recovery: string }>('SELECT recovery FROM reservations WHERE call_id = $1', { bind: [withInfo], type: QueryTypes.SELECT });
        assert.deepEqual(JSON.parse(row!.recovery), { dialogs: dialogsOf(withInfo), rating: `{"tariff":"${path}"}` });
        for (const callId of [without, withInfo]) await cc.settle(callId, 61);
      }
      for (const a of await p.repo.auditAccounts()) assert.ok(a.ok, `account ${a.code} consistent`);
    });

    it('settles an orphan to its real end: the reservation, one ledger row and the balance, and waits for one still up', async () => {
      const crashed = creditControl(p.repo, `real-end-crashed-${backend}`, {}, { clock: () => clock.now });
      const account = await fundedAccount(crashed, '20');
      const answeredAt = new Date(clock.now.getTime());
      for (const callId of ['real-1', 'real-2'].map((c) => `${c}-${backend}`)) {
        assert.ok((await crashed.authorise({ callId, accountId: account.id, pricer: tariff })).granted);
        await crashed.answer(callId, tariff, { dialogs: dialogsOf(callId), rating: 'per-second' });
      }
      later(30);
      for (const callId of ['real-1', 'real-2'].map((c) => `${c}-${backend}`)) await crashed.checkpoint(callId, 30);

      const [one, two] = [`real-1-${backend}`, `real-2-${backend}`];
      const at = (seconds: number) => new Date(answeredAt.getTime() + seconds * 1000);
      let ends = new Map<string, Date | null>([[dialogsOf(one)[0]!, at(96.4)], [dialogsOf(one)[1]!, at(95.3)], [dialogsOf(two)[0]!, null], [dialogsOf(two)[1]!, null]]);
      const asked: string[][] = [];
      const recovered: RecoveredCall[] = [];
      const rescuer = creditControl(p.repo, `real-end-rescuer-${backend}`, {}, {
        clock: () => clock.now,
        orphanEnds: async (dialogs): Promise<OrphanEnds> => { asked.push(dialogs); return { status: 'known', ends }; },
        repricer: (rating) => { assert.equal(rating, 'per-second'); return perSecond(); },
        onRecovered: async (call) => { recovered.push(call); },
      });
      later(170);
      assert.equal(await rescuer.recoverDeadInstances(30_000), 1, 'the ended call only');

      const r = (await p.repo.findReservation(one))!;
      assert.deepEqual([r.state, r.settledSeconds, r.charged], ['recovered', 96, tariff.price(96)]);
      const entry = (await p.repo.findEntry(settleKey(one)))!;
      assert.deepEqual([entry.kind, entry.amount, entry.callId, entry.note], ['charge', -tariff.price(96), one, '96 s (recovered to its real end)']);
      const charges = (await p.repo.listEntries(account.id, 100)).filter((e) => e.callId === one);
      assert.equal(charges.length, 1, 'one ledger entry for the call');
      assert.equal(entry.balanceAfter, m('20') - tariff.price(96));
      assert.equal((await p.repo.findReservation(two))!.state, 'active', 'the call still up is left for a later pass');
      assert.equal(recovered[0]!.endAt?.getTime(), at(95.3).getTime());

      ends = new Map([[dialogsOf(two)[0]!, at(150)], [dialogsOf(two)[1]!, at(150.2)]]);
      later(5);
      assert.equal(await rescuer.recoverDeadInstances(30_000), 1);
      const r2 = (await p.repo.findReservation(two))!;
      assert.deepEqual([r2.state, r2.settledSeconds, r2.charged], ['recovered', 150, tariff.price(150)]);
      assert.deepEqual(asked.map((d) => d.length), [4, 2], 'one question per pass, with the dialogs of every answered orphan');
      const after = await rescuer.accounts.require(account.id);
      assert.deepEqual([after.balance, after.reserved, after.liveCalls], [m('20') - tariff.price(96) - tariff.price(150), 0n, 0]);
      for (const a of await p.repo.auditAccounts()) assert.ok(a.ok, `account ${a.code} consistent`);
    });

    it('reads an unreadable stored recovery info as null with a warning, and settles that call at its checkpoint', async () => {
      const crashed = creditControl(p.repo, `garbled-crashed-${backend}`, {}, { clock: () => clock.now });
      const account = await fundedAccount(crashed, '20');
      const callId = `garbled-${backend}`;
      assert.ok((await crashed.authorise({ callId, accountId: account.id, pricer: tariff })).granted);
      await crashed.answer(callId, tariff, { dialogs: dialogsOf(callId), rating: 'per-second' });
      later(40);
      await crashed.checkpoint(callId, 40);
      await p.db.sequelize.query('UPDATE reservations SET recovery = $1 WHERE call_id = $2', { bind: ['{"dialogs": 5', callId], type: QueryTypes.UPDATE });

      const { logger, warnings } = capturingLogger();
      const repo = new PrepaidRepository(p.db, logger);
      assert.equal((await repo.findReservation(callId))!.recovery, null);
      assert.ok(warnings.some((w) => w.includes('unreadable recovery info') && w.includes(callId)), 'the unreadable value is reported');
      const rescuer = creditControl(repo, `garbled-rescuer-${backend}`, {}, {
        clock: () => clock.now,
        orphanEnds: async () => ({ status: 'known', ends: new Map(dialogsOf(callId).map((d) => [d, clock.now])) }),
        repricer: () => perSecond(),
      });
      later(60);
      assert.equal(await rescuer.recoverDeadInstances(30_000), 1);
      const r = (await repo.findReservation(callId))!;
      assert.deepEqual([r.state, r.settledSeconds, r.charged], ['recovered', 40, tariff.price(40)]);
      assert.equal((await repo.findEntry(settleKey(callId)))!.note, '40 s (recovered at checkpoint)');
      for (const a of await p.repo.auditAccounts()) assert.ok(a.ok, `account ${a.code} consistent`);
    });
  });
}
