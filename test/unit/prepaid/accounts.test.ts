import { strict as assert } from 'node:assert';
import { parseMoney as m } from '../../../lib/common/money';
import { AccountService, MemoryPrepaidStore, parseAmount, type PrepaidError } from '../../../lib/prepaid';

describe('prepaid accounts', () => {
  const amounts: Array<[string, string | bigint]> = [
    ['12.50', m('12.50')], ['0.000001', 1n], ['-3', m('-3')], ['1.5000000', m('1.5')],
    ['1,50', 'INVALID_AMOUNT'], ['abc', 'INVALID_AMOUNT'], ['0.0000001', 'INVALID_AMOUNT'], ['', 'INVALID_AMOUNT'],
    ['1e3', 'INVALID_AMOUNT'], ['100000000000000', 'INVALID_AMOUNT'],
  ];
  for (const [text, want] of amounts) {
    it(`parses the amount ${JSON.stringify(text)} as ${String(want)}`, () => {
      if (typeof want === 'bigint') assert.equal(parseAmount(text), want);
      else assert.throws(() => parseAmount(text), (e: PrepaidError) => e.code === want);
    });
  }

  it('keeps the balance equal to the sum of the ledger through top-ups, refunds and adjustments', async () => {
    const store = new MemoryPrepaidStore();
    const svc = new AccountService(store);
    const a = await svc.create({ code: 'alice', kind: 'prepaid', currency: 'EUR' });
    await svc.topup(a.id, m('10'), 'k1');
    await svc.refund(a.id, m('0.25'), 'k2');
    await svc.adjust(a.id, m('-1.000001'), 'k3');
    assert.equal((await svc.require(a.id)).balance, m('9.249999'));
    assert.ok((await svc.check()).every((x) => x.ok));
  });

  const invalid: Array<{ name: string; input: Record<string, unknown> }> = [
    { name: 'a bad code', input: { code: 'has space', kind: 'prepaid', currency: 'EUR' } },
    { name: 'a bad currency', input: { code: 'x', kind: 'prepaid', currency: 'eur' } },
    { name: 'a prepaid credit limit', input: { code: 'x', kind: 'prepaid', currency: 'EUR', creditLimit: m('5') } },
    { name: 'a negative credit limit', input: { code: 'x', kind: 'postpaid', currency: 'EUR', creditLimit: m('-5') } },
    { name: 'a zero call limit', input: { code: 'x', kind: 'prepaid', currency: 'EUR', maxCalls: 0 } },
    { name: 'an unknown kind', input: { code: 'x', kind: 'credit', currency: 'EUR' } },
  ];
  for (const t of invalid) {
    it(`refuses to create an account with ${t.name}`, async () => {
      const store = new MemoryPrepaidStore();
      const svc = new AccountService(store);
      await assert.rejects(svc.create(t.input as never), (e: PrepaidError) => e.code === 'INVALID_ACCOUNT');
      assert.equal((await store.listAccounts()).length, 0);
    });
  }
});
