import { strict as assert } from 'node:assert';
import { parseMoney as m } from '../../../lib/common/money';
import { PrepaidError, type RefusalCode } from '../../../lib/prepaid';
import { fixedTariff, perSecond, tenSecondSteps } from '../../support/prepaid-fixtures';
import { bench } from './support';

async function audited(b: ReturnType<typeof bench>): Promise<void> {
  for (const a of await b.store.auditAccounts()) assert.ok(a.ok, `account ${a.code} is consistent: ${JSON.stringify(a, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))}`);
}

describe('prepaid credit control', () => {
  describe('authorise', () => {
    it('grants the configured slice and sets aside exactly its price', async () => {
      const b = bench({ grantSeconds: 300 });
      const a = await b.account('10.00');
      const res = await b.cc.authorise({ callId: 'c1', accountId: a.id, pricer: perSecond() });
      assert.ok(res.granted);
      assert.equal(res.grant.grantedSeconds, 300);
      assert.equal(res.grant.reserved, m('3.00'));
      assert.equal(res.grant.final, false);
      const after = (await b.store.getAccount(a.id))!;
      assert.equal(after.reserved, m('3.00'));
      assert.equal(after.liveCalls, 1);
      assert.equal(after.balance, m('10.00'));
    });

    it('grants what the available money buys when that is less than a slice, and marks it final', async () => {
      const b = bench({ grantSeconds: 300 });
      const a = await b.account('1.234');
      const res = await b.cc.authorise({ callId: 'c1', accountId: a.id, pricer: perSecond() });
      assert.ok(res.granted);
      assert.equal(res.grant.grantedSeconds, 123);
      assert.equal(res.grant.reserved, m('1.23'));
      assert.equal(res.grant.final, true);
    });

    it('grants at least the first billing step when the configured slice is shorter', async () => {
      const b = bench({ grantSeconds: 20 });
      const a = await b.account('1.00');
      const res = await b.cc.authorise({ callId: 'c1', accountId: a.id, pricer: fixedTariff({ pricePerIncrement: '0.50', increment: 60 }) });
      assert.ok(res.granted, 'a 60 s first step is bought, not refused');
      assert.equal(res.grant.grantedSeconds, 60);
      assert.equal(res.grant.reserved, m('0.50'));
    });

    it('counts money reserved by other live calls as spent', async () => {
      const b = bench({ grantSeconds: 300 });
      const a = await b.account('4.00');
      assert.ok((await b.cc.authorise({ callId: 'c1', accountId: a.id, pricer: perSecond() })).granted);
      const second = await b.cc.authorise({ callId: 'c2', accountId: a.id, pricer: perSecond() });
      assert.ok(second.granted);
      assert.equal(second.grant.grantedSeconds, 100);
      const third = await b.cc.authorise({ callId: 'c3', accountId: a.id, pricer: perSecond() });
      assert.deepEqual(third.granted ? 'granted' : third.refusal.code, 'INSUFFICIENT_FUNDS');
    });

    const refusals: Array<{ name: string; code: RefusalCode; balance: string; account?: Record<string, unknown>; currency?: string; live?: number }> = [
      { name: 'a suspended account', code: 'SUSPENDED', balance: '10', account: { status: 'suspended' } },
      { name: 'a closed account', code: 'CLOSED', balance: '10', account: { status: 'closed' } },
      { name: 'an expired account', code: 'EXPIRED', balance: '10', account: { expiresAt: new Date('2026-03-02T09:59:59Z') } },
      { name: 'an account at its call limit', code: 'CALL_LIMIT', balance: '10', account: { maxCalls: 1 }, live: 1 },
      { name: 'money below the first billing step', code: 'INSUFFICIENT_FUNDS', balance: '0.59' },
      { name: 'no money at all', code: 'INSUFFICIENT_FUNDS', balance: '0' },
      { name: 'a tariff in another currency', code: 'CURRENCY_MISMATCH', balance: '10', currency: 'USD' },
      { name: 'a postpaid account at its credit limit', code: 'CREDIT_LIMIT', balance: '0', account: { kind: 'postpaid', creditLimit: m('0.50') } },
    ];
    for (const t of refusals) {
      it(`refuses ${t.name} with ${t.code}`, async () => {
        const b = bench();
        const a = await b.account(t.balance, t.account);
        for (let i = 0; i < (t.live ?? 0); i++) assert.ok((await b.cc.authorise({ callId: `live-${i}`, accountId: a.id, pricer: perSecond() })).granted);
        const res = await b.cc.authorise({ callId: 'c1', accountId: a.id, pricer: perSecond(t.currency) });
        assert.equal(res.granted ? 'granted' : res.refusal.code, t.code);
        const after = (await b.store.getAccount(a.id))!;
        assert.equal(after.liveCalls, t.live ?? 0, 'a refusal reserves nothing');
      });
    }

    it('refuses an unknown account with UNKNOWN_ACCOUNT', async () => {
      const b = bench();
      const res = await b.cc.authorise({ callId: 'c1', accountId: 999, pricer: perSecond() });
      assert.equal(res.granted ? 'granted' : res.refusal.code, 'UNKNOWN_ACCOUNT');
    });

    it('admits a postpaid call without setting money aside', async () => {
      const b = bench();
      const a = await b.account('0', { kind: 'postpaid', creditLimit: m('20') });
      const res = await b.cc.authorise({ callId: 'c1', accountId: a.id, pricer: perSecond() });
      assert.ok(res.granted);
      assert.equal(res.grant.mode, 'postpaid');
      assert.equal(res.grant.reserved, 0n);
      await b.cc.answer('c1', perSecond());
      const s = await b.cc.settle('c1', 100);
      assert.equal(s.charged, m('1.00'));
      assert.equal((await b.store.getAccount(a.id))!.balance, m('-1.00'));
      await audited(b);
    });
  });

  describe('answer', () => {
    it('re-prices the grant under a dearer answer tariff and sets aside the difference', async () => {
      const b = bench({ grantSeconds: 300 });
      const a = await b.account('10');
      await b.cc.authorise({ callId: 'c1', accountId: a.id, pricer: perSecond() });
      const g = await b.cc.answer('c1', fixedTariff({ pricePerIncrement: '0.02', firstStepSeconds: 60 }));
      assert.equal(g.grantedSeconds, 300);
      assert.equal(g.reserved, m('6.00'));
      assert.equal((await b.store.getAccount(a.id))!.reserved, m('6.00'));
    });

    it('shortens the grant when the difference is not there', async () => {
      const b = bench({ grantSeconds: 300 });
      const a = await b.account('4');
      await b.cc.authorise({ callId: 'c1', accountId: a.id, pricer: perSecond() });
      const g = await b.cc.answer('c1', fixedTariff({ pricePerIncrement: '0.02', firstStepSeconds: 60 }));
      assert.equal(g.grantedSeconds, 200);
      assert.equal(g.reserved, m('4.00'));
      assert.equal(g.final, true);
      await audited(b);
    });

    it('gives back the surplus under a cheaper answer tariff', async () => {
      const b = bench({ grantSeconds: 300 });
      const a = await b.account('10');
      await b.cc.authorise({ callId: 'c1', accountId: a.id, pricer: perSecond() });
      const g = await b.cc.answer('c1', fixedTariff({ pricePerIncrement: '0.005', firstStepSeconds: 60 }));
      assert.equal(g.reserved, m('1.50'));
      assert.equal((await b.store.getAccount(a.id))!.reserved, m('1.50'));
    });
  });

  describe('extend', () => {
    it('adds the next slice and sets aside exactly the price of the added seconds', async () => {
      const b = bench({ grantSeconds: 300 });
      const a = await b.account('10');
      await b.cc.authorise({ callId: 'c1', accountId: a.id, pricer: tenSecondSteps() });
      await b.cc.answer('c1', tenSecondSteps());
      const g = await b.cc.extend('c1');
      assert.equal(g.addedSeconds, 300);
      assert.equal(g.grantedSeconds, 600);
      assert.equal(g.reserved, tenSecondSteps().price(600));
      assert.equal((await b.store.getAccount(a.id))!.reserved, tenSecondSteps().price(600));
    });

    it('gives a final partial grant when the money runs short, then nothing', async () => {
      const b = bench({ grantSeconds: 300 });
      const a = await b.account('4.50');
      await b.cc.authorise({ callId: 'c1', accountId: a.id, pricer: perSecond() });
      await b.cc.answer('c1', perSecond());
      const partial = await b.cc.extend('c1');
      assert.deepEqual([partial.addedSeconds, partial.grantedSeconds, partial.final], [150, 450, true]);
      const none = await b.cc.extend('c1');
      assert.deepEqual([none.addedSeconds, none.grantedSeconds, none.final], [0, 450, true]);
      const s = await b.cc.settle('c1', 450);
      assert.equal(s.charged, m('4.50'));
      assert.equal((await b.store.getAccount(a.id))!.balance, 0n);
      await audited(b);
    });

    it('refuses to extend a call that is not answered', async () => {
      const b = bench();
      const a = await b.account('10');
      await b.cc.authorise({ callId: 'c1', accountId: a.id, pricer: perSecond() });
      await assert.rejects(b.cc.extend('c1'), (e: PrepaidError) => e.code === 'ILLEGAL_STATE');
    });
  });

  describe('settle and release', () => {
    it('charges the exact price of the billable seconds as one ledger entry and returns the rest', async () => {
      const b = bench({ grantSeconds: 300 });
      const a = await b.account('10');
      await b.cc.authorise({ callId: 'c1', accountId: a.id, pricer: tenSecondSteps() });
      await b.cc.answer('c1', tenSecondSteps());
      const s = await b.cc.settle('c1', 61);
      assert.equal(s.charged, m('0.155'));
      assert.equal(s.returned, tenSecondSteps().price(300) - m('0.155'));
      const after = (await b.store.getAccount(a.id))!;
      assert.deepEqual([after.balance, after.reserved, after.liveCalls], [m('9.845'), 0n, 0]);
      const ledger = await b.store.listEntries(a.id, 10);
      assert.equal(ledger.length, 2);
      assert.deepEqual([ledger[0]!.kind, ledger[0]!.amount, ledger[0]!.balanceAfter], ['charge', m('-0.155'), m('9.845')]);
      await audited(b);
    });

    it('releases an unanswered call with no charge', async () => {
      const b = bench();
      const a = await b.account('10');
      await b.cc.authorise({ callId: 'c1', accountId: a.id, pricer: perSecond() });
      await b.cc.release('c1');
      const after = (await b.store.getAccount(a.id))!;
      assert.deepEqual([after.balance, after.reserved, after.liveCalls], [m('10'), 0n, 0]);
      assert.equal((await b.store.listEntries(a.id, 10)).length, 1);
    });

    it('charges no more than the grant when the billable seconds overrun it', async () => {
      const b = bench({ grantSeconds: 300 });
      const a = await b.account('10');
      await b.cc.authorise({ callId: 'c1', accountId: a.id, pricer: perSecond() });
      await b.cc.answer('c1', perSecond());
      const s = await b.cc.settle('c1', 301);
      assert.equal(s.charged, m('3.00'));
    });

    it('refuses to release an answered call', async () => {
      const b = bench();
      const a = await b.account('10');
      await b.cc.authorise({ callId: 'c1', accountId: a.id, pricer: perSecond() });
      await b.cc.answer('c1', perSecond());
      await assert.rejects(b.cc.release('c1'), (e: PrepaidError) => e.code === 'ILLEGAL_STATE');
    });
  });
});
