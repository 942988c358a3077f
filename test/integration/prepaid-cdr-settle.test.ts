import { strict as assert } from 'node:assert';
import { openDatabaseUrl } from '../../lib/db/database';
import { callRecordText, CdrRepository, type CdrRecord } from '../../lib/db/cdr-repository';
import { PrepaidRepository } from '../../lib/db/prepaid-repository';
import { MemorySettlementJournal, settleKey } from '../../lib/prepaid';
import { creditControl, fundedAccount, openPrepaidDb, perSecond, type Backend, type PrepaidDb } from '../support/prepaid-fixtures';

/**
 * The CDR of an answered call is written by the settlement's own statement (migration 0010): a
 * process that dies as soon as the settlement is sent leaves both or neither, and the CDR's cost
 * is the ledger charge whatever the record said.
 */
function cdrOf(callId: string, accountId: number, over: Partial<CdrRecord> = {}): CdrRecord {
  const at = new Date('2026-03-02T10:00:00.250Z');
  return {
    callId, instanceId: 'cdr-settle', sipCallId: `${callId}@pbx`, inviteAt: at, answerAt: new Date(at.getTime() + 2000), endAt: new Date(at.getTime() + 62_000),
    callerDialled: '201', callerE164: '4930100201', calleeDialled: '202', calleeE164: '4930100202', presentedCaller: '201', scope: 'onnet',
    service: 'voice.onnet', vpnGroup: 'acme', accountId, ingressTrunk: 'pbx', egressTrunk: null, billableSeconds: 0, grantedSeconds: 300,
    disposition: 'answered', releaseCause: 'caller_bye', sipStatus: 200, sipReason: null, ruleId: 1, tariffId: 1, currency: 'EUR',
    // A record's own cost and seconds are not what the CDR gets: the settlement's are.
    cost: 999n, ledgerKey: 'not-this', ...over,
  };
}

for (const backend of ['mariadb', 'mysql-path', 'sqlite'] as Backend[]) {
  describe(`an answered call's CDR is written with its settlement (${backend})`, function () {
    this.timeout(60_000);
    let p: PrepaidDb;
    const tariff = perSecond();
    before(async () => { p = await openPrepaidDb(backend); });
    after(async () => { await p?.close(); });

    it('survives the process dying right after the settlement: CDR and ledger entry both there, cost = charge', async () => {
      const cc = creditControl(p.repo, `crash-${backend}`);
      const account = await fundedAccount(cc, '20');
      const callId = `crash-${backend}`;
      assert.ok((await cc.authorise({ callId, accountId: account.id, pricer: tariff })).granted);
      await cc.answer(callId, tariff);
      // The settlement is the last thing this "process" does: nothing after it writes a CDR.
      const settled = await cc.settle(callId, 75, undefined, () => callRecordText(cdrOf(callId, account.id)));
      assert.equal(settled.recorded, true);
      assert.equal(settled.charged, tariff.price(75));
      // Read back through a connection of its own, as the next process would.
      const other = await openDatabaseUrl(p.url);
      try {
        const cdr = (await new CdrRepository(other).findByCallId(callId))!;
        const entry = (await new PrepaidRepository(other).findEntry(settleKey(callId)))!;
        assert.equal(cdr.cost, -entry.amount, 'CDR cost = ledger charge');
        assert.equal(cdr.cost, tariff.price(75));
        assert.equal(cdr.billableSeconds, 75);
        assert.equal(cdr.ledgerKey, settleKey(callId));
        assert.equal(cdr.calleeE164, '4930100202');
        assert.equal(cdr.egressTrunk, null);
        assert.equal(cdr.inviteAt.toISOString(), '2026-03-02T10:00:00.250Z');
      } finally {
        await other.close();
      }
      // The call session's own CDR write, were it to come, changes nothing.
      assert.equal(await new CdrRepository(p.db).write(cdrOf(callId, account.id, { cost: tariff.price(75) })), false);
    });

    it('a record the table refuses fails the settlement whole: no charge, no CDR; the settlement is journalled and replayed', async () => {
      const journal = new MemorySettlementJournal();
      const cc = creditControl(p.repo, `refused-record-${backend}`, {}, { journal });
      const account = await fundedAccount(cc, '20');
      const callId = `refused-record-${backend}`;
      assert.ok((await cc.authorise({ callId, accountId: account.id, pricer: tariff })).granted);
      await cc.answer(callId, tariff);
      // No disposition: the cdrs row cannot be written, so neither is the charge.
      const broken = (): string => { const o = JSON.parse(callRecordText(cdrOf(callId, account.id))) as Record<string, unknown>; delete o.disposition; return JSON.stringify(o); };
      const settled = await cc.settle(callId, 30, undefined, broken);
      assert.equal(settled.journalled, true);
      assert.notEqual(settled.recorded, true);
      assert.equal(await new CdrRepository(p.db).findByCallId(callId), undefined);
      assert.equal(await p.repo.findEntry(settleKey(callId)), undefined);
      assert.equal((await p.repo.findReservation(callId))!.state, 'active');
      assert.equal((await cc.replayJournal()).applied, 1);
      assert.equal(-(await p.repo.findEntry(settleKey(callId)))!.amount, tariff.price(30));
      for (const a of await p.repo.auditAccounts()) assert.ok(a.ok, `account ${a.code} consistent`);
    });
  });
}
