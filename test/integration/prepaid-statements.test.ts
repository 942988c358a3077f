import { strict as assert } from 'node:assert';
import { callRecordText, CdrRepository, type CdrRecord } from '../../lib/db/cdr-repository';
import { settleKey } from '../../lib/prepaid';
import { creditControl, fundedAccount, openPrepaidDb, perSecond, type Backend, type PrepaidDb } from '../support/prepaid-fixtures';

/**
 * SQL statements per call, counted (BEGIN and COMMIT included) at the driver's query hook while
 * credit control and the CDR write handle one call of each kind (an answered call's CDR goes with its
 * settlement, in the same statement). Counting is deterministic, so the
 * budget is asserted: at most 5 statements for a refused, an unanswered and an answered call, and
 * one more per extension. 'mysql-path' is MariaDB driven as MySQL 8 must be (no INSERT ... RETURNING:
 * authorise and steps CALL the procedures of migration 0009), with the same budget.
 */
const HOT_PATH_BUDGET = 5;

/** What the database was sent, by first keyword (START TRANSACTION and BEGIN both count as BEGIN). */
class StatementCount {
  readonly byKind = new Map<string, number>();
  total = 0;

  add(sql: string): void {
    const word = /^\s*(?:\/\*.*?\*\/\s*)?(\w+)/s.exec(sql)?.[1]?.toUpperCase() ?? '?';
    const kind = word === 'START' ? 'BEGIN' : word;
    this.byKind.set(kind, (this.byKind.get(kind) ?? 0) + 1);
    this.total++;
  }

  toString(): string {
    return `${this.total} (${[...this.byKind].sort().map(([k, n]) => `${n} ${k}`).join(', ')})`;
  }
}

async function counted(p: PrepaidDb, fn: () => Promise<unknown>): Promise<StatementCount> {
  const count = new StatementCount();
  p.db.sequelize.addHook('afterQuery', 'count-statements', (_options, query) => { count.add(String((query as unknown as { sql?: string }).sql ?? '')); });
  try {
    await fn();
  } finally {
    p.db.sequelize.removeHook('afterQuery', 'count-statements');
  }
  return count;
}

function cdrOf(callId: string, accountId: number, disposition: CdrRecord['disposition'], cost: bigint, billableSeconds: number): CdrRecord {
  const at = new Date();
  return {
    callId, instanceId: 'statements', sipCallId: `${callId}@pbx`, inviteAt: at, answerAt: disposition === 'answered' ? at : null, endAt: at,
    callerDialled: '201', callerE164: '4930100201', calleeDialled: '202', calleeE164: '4930100202', presentedCaller: '201', scope: 'onnet',
    service: 'voice.onnet', vpnGroup: 'acme', accountId, ingressTrunk: 'pbx', egressTrunk: 'pbx', billableSeconds, grantedSeconds: 300,
    disposition, releaseCause: disposition === 'answered' ? 'caller_bye' : 'no_credit', sipStatus: disposition === 'answered' ? 200 : 402,
    sipReason: null, ruleId: 1, tariffId: 1, currency: 'EUR', cost, ledgerKey: disposition === 'answered' ? settleKey(callId) : null,
  };
}

for (const backend of ['mariadb', 'mysql-path', 'sqlite'] as Backend[]) {
  describe(`SQL statements per call (${backend})`, function () {
    this.timeout(60_000);
    let p: PrepaidDb;
    let cdrs: CdrRepository;
    const tariff = perSecond();
    const dialogs = (callId: string): string[] => [`${callId}-a;from-tag=1`, `${callId}-b;from-tag=2`];
    const report: string[] = [];
    before(async () => {
      p = await openPrepaidDb(backend);
      cdrs = new CdrRepository(p.db);
    });
    after(async () => {
      // The figures the budget is about, for the record of a run.
      for (const line of report) console.log(`      ${backend}: ${line}`);
      await p?.close();
    });

    it('the server is told at connect, and with it how authorise and steps are sent', async () => {
      assert.equal(p.db.server.product, backend === 'sqlite' ? 'sqlite' : 'mariadb');
      assert.equal(p.db.server.returning, true);
      assert.equal(p.repo.returning, backend !== 'mysql-path');
    });

    it('a refused call (not enough money): authorise and its CDR', async () => {
      const cc = creditControl(p.repo, `refused-${backend}`);
      const account = await fundedAccount(cc, '0.10');
      const callId = `refused-${backend}`;
      const count = await counted(p, async () => {
        const auth = await cc.authorise({ callId, accountId: account.id, pricer: tariff });
        assert.equal(auth.granted, false);
        await cdrs.write(cdrOf(callId, account.id, 'refused', 0n, 0));
      });
      report.push(`refused call: ${count}`);
      assert.ok(count.total <= HOT_PATH_BUDGET, `a refused call took ${count}`);
    });

    it('an unanswered call: authorise, release and its CDR', async () => {
      const cc = creditControl(p.repo, `unanswered-${backend}`);
      const account = await fundedAccount(cc, '20');
      const callId = `unanswered-${backend}`;
      const count = await counted(p, async () => {
        assert.ok((await cc.authorise({ callId, accountId: account.id, pricer: tariff })).granted);
        await cc.release(callId);
        await cdrs.write(cdrOf(callId, account.id, 'no_answer', 0n, 0));
      });
      report.push(`unanswered call: ${count}`);
      assert.ok(count.total <= HOT_PATH_BUDGET, `an unanswered call took ${count}`);
      for (const a of await p.repo.auditAccounts()) assert.ok(a.ok, `account ${a.code} consistent`);
    });

    it('an answered call within its first grant: authorise, answer, settle and its CDR', async () => {
      const cc = creditControl(p.repo, `answered-${backend}`);
      const account = await fundedAccount(cc, '20');
      const callId = `answered-${backend}`;
      const count = await counted(p, async () => {
        assert.ok((await cc.authorise({ callId, accountId: account.id, pricer: tariff })).granted);
        await cc.answer(callId, tariff, { dialogs: dialogs(callId), rating: '{}' });
        // As a call session settles: the CDR rides on the settlement's statement.
        const settled = await cc.settle(callId, 42, undefined, (s) => callRecordText(cdrOf(callId, account.id, 'answered', s.charged, s.billableSeconds)));
        assert.equal(settled.recorded, true);
      });
      report.push(`answered call, one grant: ${count}`);
      assert.ok(count.total <= HOT_PATH_BUDGET, `an answered call took ${count}`);
      // The MySQL path sends authorise as a CALL, the others as an INSERT ... RETURNING.
      assert.equal(count.byKind.get('CALL') ?? 0, backend === 'mysql-path' ? 1 : 0, `${count}`);
      const after = (await p.repo.getAccount(account.id))!;
      assert.equal(after.balance, 20_000_000n - tariff.price(42));
      const cdr = (await cdrs.findByCallId(callId))!;
      assert.equal(cdr.cost, tariff.price(42));
      assert.equal(-(await p.repo.findEntry(settleKey(callId)))!.amount, cdr.cost, 'CDR cost = ledger charge');
      assert.equal(cdr.ledgerKey, settleKey(callId));
      assert.equal(cdr.calleeE164, '4930100202');
      for (const a of await p.repo.auditAccounts()) assert.ok(a.ok, `account ${a.code} consistent`);
    });

    it('an answered call with two extensions: one more statement for each', async () => {
      const cc = creditControl(p.repo, `extended-${backend}`, { grantSeconds: 60 });
      const account = await fundedAccount(cc, '20');
      const callId = `extended-${backend}`;
      const count = await counted(p, async () => {
        assert.ok((await cc.authorise({ callId, accountId: account.id, pricer: tariff })).granted);
        await cc.answer(callId, tariff, { dialogs: dialogs(callId), rating: '{}' });
        assert.equal((await cc.extend(callId)).grantedSeconds, 120);
        assert.equal((await cc.extend(callId)).grantedSeconds, 180);
        const settled = await cc.settle(callId, 150, undefined, (s) => callRecordText(cdrOf(callId, account.id, 'answered', s.charged, s.billableSeconds)));
        assert.equal(settled.recorded, true);
      });
      report.push(`answered call, two extensions: ${count}`);
      assert.equal(count.byKind.get('CALL') ?? 0, backend === 'mysql-path' ? 3 : 0, `${count}`);
      assert.ok(count.total <= HOT_PATH_BUDGET + 2, `a call with two extensions took ${count}`);
      assert.equal((await p.repo.getAccount(account.id))!.balance, 20_000_000n - tariff.price(150));
      const cdr = (await cdrs.findByCallId(callId))!;
      assert.equal(cdr.cost, tariff.price(150));
      assert.equal(cdr.billableSeconds, 150);
      assert.equal(-(await p.repo.findEntry(settleKey(callId)))!.amount, cdr.cost, 'CDR cost = ledger charge');
      for (const a of await p.repo.auditAccounts()) assert.ok(a.ok, `account ${a.code} consistent`);
    });

    it('settlements made while one is written go together: fewer statements, each settled as alone', async () => {
      const cc = creditControl(p.repo, `group-${backend}`);
      const account = await fundedAccount(cc, '100');
      const calls = Array.from({ length: 20 }, (_, i) => `group-${backend}-${i}`);
      for (const callId of calls) {
        assert.ok((await cc.authorise({ callId, accountId: account.id, pricer: tariff })).granted);
        await cc.answer(callId, tariff);
      }
      const stale = (await p.repo.findReservation(calls[0]!))!;
      let outcomes: unknown[] = [];
      const count = await counted(p, async () => {
        outcomes = await Promise.all([
          ...calls.slice(1).map((callId, i) => cc.settle(callId, 61 + i, undefined, (x) => callRecordText(cdrOf(callId, account.id, 'answered', x.charged, x.billableSeconds)))),
          // A settlement from a reservation's old amount, in the middle of a batch: stale, alone.
          p.repo.closeReservation({
            reservationId: stale.id, callId: stale.callId, accountId: account.id, state: 'settled', seconds: 61, charge: tariff.price(61),
            expectedAmount: stale.amount + 1n, ledgerKey: settleKey(stale.callId), at: new Date(),
          }),
        ]);
      });
      report.push(`19 settlements and a stale one, made together: ${count}`);
      assert.deepEqual((outcomes[19] as { status: string }).status, 'stale');
      // The first alone, the other 19 in one UPDATE that changes 18 rows (and writes their CDRs), and one read back of them.
      assert.equal(count.total, 3, `${count}`);
      let charged = 0n;
      for (let i = 1; i < 20; i++) {
        const entry = (await p.repo.findEntry(settleKey(calls[i]!)))!;
        assert.equal(entry.amount, -tariff.price(60 + i));
        assert.equal((await cdrs.findByCallId(calls[i]!))!.cost, tariff.price(60 + i), 'each CDR went with its settlement, cost = charge');
        charged += tariff.price(60 + i);
      }
      assert.equal((await p.repo.findReservation(calls[0]!))!.state, 'active');
      await cc.settle(calls[0]!, 61);
      charged += tariff.price(61);
      assert.equal((await p.repo.getAccount(account.id))!.balance, 100_000_000n - charged);
      for (const a of await p.repo.auditAccounts()) assert.ok(a.ok, `account ${a.code} consistent`);
    });

    it('answers made while one is written go together: fewer statements, each recorded as alone', async () => {
      const cc = creditControl(p.repo, `answers-${backend}`);
      const account = await fundedAccount(cc, '100');
      const calls = Array.from({ length: 20 }, (_, i) => `answers-${backend}-${i}`);
      for (const callId of calls) assert.ok((await cc.authorise({ callId, accountId: account.id, pricer: tariff })).granted);
      // One call already ended: its late answer must change nothing.
      const ended = calls[19]!;
      await cc.release(ended);
      const before = (await p.repo.findReservation(ended))!;
      const count = await counted(p, async () => {
        await Promise.all([
          // Every other call with its recovery info, the rest without.
          ...calls.slice(0, 19).map((callId, i) => cc.answer(callId, tariff, i % 2 === 0 ? { dialogs: dialogs(callId), rating: `{"n":${i}}` } : undefined)),
          p.repo.markAnswered(ended, new Date(), { dialogs: dialogs(ended), rating: '{}' }),
        ]);
      });
      report.push(`20 answers made together: ${count}`);
      // The first alone, the other 19 in one UPDATE.
      assert.equal(count.total, 2, `${count}`);
      for (let i = 0; i < 19; i++) {
        const r = (await p.repo.findReservation(calls[i]!))!;
        assert.ok(r.answeredAt instanceof Date, `${calls[i]} answered`);
        assert.ok(Math.abs(r.answeredAt.getTime() - Date.now()) < 60_000, `${calls[i]} answered now: ${r.answeredAt.toISOString()}`);
        if (i % 2 === 0) assert.deepEqual(r.recovery, { dialogs: dialogs(calls[i]!), rating: `{"n":${i}}` }, `${calls[i]}'s own recovery info`);
        else assert.equal(r.recovery, null, `${calls[i]} has none`);
      }
      const after = (await p.repo.findReservation(ended))!;
      assert.equal(after.state, before.state);
      assert.equal(after.answeredAt, null);
      assert.equal(after.recovery, null);
      // Answered again (a retried answer): the first answer's time and recovery info stay.
      const first = (await p.repo.findReservation(calls[0]!))!;
      await p.repo.markAnswered(calls[0]!, new Date(Date.now() + 5000), { dialogs: ['other;from-tag=9'], rating: '{}' });
      const again = (await p.repo.findReservation(calls[0]!))!;
      assert.equal(again.answeredAt!.getTime(), first.answeredAt!.getTime());
      assert.deepEqual(again.recovery, first.recovery);
      for (const callId of calls.slice(0, 19)) await cc.settle(callId, 30);
      assert.equal((await p.repo.getAccount(account.id))!.balance, 100_000_000n - 19n * tariff.price(30));
      for (const a of await p.repo.auditAccounts()) assert.ok(a.ok, `account ${a.code} consistent`);
    });
  });
}
