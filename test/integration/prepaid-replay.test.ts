import { strict as assert } from 'node:assert';
import { formatMoney, parseMoney as m } from '../../lib/common/money';
import type { Account, CreditControl, PrepaidError } from '../../lib/prepaid';
import { perSecond, creditControl, fundedAccount, openPrepaidDb, type Backend, type PrepaidDb } from '../support/prepaid-fixtures';

/** Everything a replay must leave unchanged. */
async function snapshot(p: PrepaidDb, account: Account): Promise<string> {
  const a = await p.repo.getAccount(account.id);
  const ledger = await p.repo.listEntries(account.id, 1000);
  const show = (v: unknown) => JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? formatMoney(x) : x instanceof Date ? undefined : x));
  return show({ balance: a!.balance, reserved: a!.reserved, live: a!.liveCalls, ledger: ledger.map((e) => [e.kind, e.amount, e.balanceAfter, e.idempotencyKey]) });
}

for (const backend of ['mariadb', 'mysql-path'] as Backend[]) {
  describe(`prepaid replays change nothing (${backend})`, function () {
    this.timeout(60_000);
    let p: PrepaidDb;
    let cc: CreditControl;
    let other: CreditControl;
    let account: Account;
    const tariff = perSecond();

    before(async () => {
      p = await openPrepaidDb(backend);
      cc = creditControl(p.repo, 'replay-a');
      other = creditControl(p.repo, 'replay-b');
      account = await fundedAccount(cc, '100');
    });
    after(async () => { await p?.close(); });

    // Each step runs once, then its replay runs and must change nothing and return the same result.
    const steps: Array<{ name: string; first: () => Promise<unknown>; replay: () => Promise<unknown>; same?: (a: unknown, b: unknown) => void }> = [
      { name: 'top-up', first: () => cc.topup(account.id, m('5'), 'topup-1'), replay: () => cc.topup(account.id, m('5'), 'topup-1') },
      { name: 'adjustment', first: () => cc.adjust(account.id, m('-1.25'), 'adjust-1'), replay: () => cc.adjust(account.id, m('-1.25'), 'adjust-1') },
      { name: 'authorise', first: () => cc.authorise({ callId: 'r1', accountId: account.id, pricer: tariff }), replay: () => cc.authorise({ callId: 'r1', accountId: account.id, pricer: tariff }) },
      { name: 'authorise from another instance', first: async () => undefined, replay: () => other.authorise({ callId: 'r1', accountId: account.id, pricer: tariff }) },
      { name: 'answer', first: () => cc.answer('r1', tariff), replay: () => cc.answer('r1', tariff) },
      { name: 'extend', first: () => cc.extend('r1', 1), replay: () => cc.extend('r1', 1) },
      { name: 'checkpoint', first: () => cc.checkpoint('r1', 200), replay: () => cc.checkpoint('r1', 200) },
      { name: 'settle', first: () => cc.settle('r1', 412), replay: () => cc.settle('r1', 412) },
      { name: 'settle from another instance', first: async () => undefined, replay: () => other.settle('r1', 412) },
      { name: 'authorise of a settled call', first: async () => undefined, replay: () => other.authorise({ callId: 'r1', accountId: account.id, pricer: tariff }) },
      { name: 'release', first: async () => { await cc.authorise({ callId: 'r2', accountId: account.id, pricer: tariff }); await cc.release('r2'); }, replay: () => cc.release('r2') },
      { name: 'release from another instance', first: async () => undefined, replay: () => other.release('r2') },
    ];

    for (const step of steps) {
      it(`a replayed ${step.name} changes nothing`, async () => {
        const first = await step.first();
        const before = await snapshot(p, account);
        const again = await step.replay();
        assert.equal(await snapshot(p, account), before);
        if (first !== undefined && again !== undefined) {
          const strip = (v: unknown) => JSON.parse(JSON.stringify(v, (k, x) => (k === 'replay' || k === 'createdAt' ? undefined : typeof x === 'bigint' ? x.toString() : x)));
          assert.deepEqual(strip(again), strip(first), 'the replay returns the first result');
        }
      });
    }

    it('charged the settled call exactly once', async () => {
      const ledger = await p.repo.listEntries(account.id, 100);
      assert.deepEqual(ledger.filter((e) => e.callId === 'r1').map((e) => e.amount), [-tariff.price(412)]);
      assert.equal((await p.repo.getAccount(account.id))!.balance, m('100') + m('5') - m('1.25') - tariff.price(412));
    });

    const conflicts: Array<{ name: string; run: () => Promise<unknown>; code: string }> = [
      { name: 'a top-up key reused with another amount', run: () => cc.topup(account.id, m('6'), 'topup-1'), code: 'IDEMPOTENCY_CONFLICT' },
      { name: 'a top-up key reused as an adjustment', run: () => cc.adjust(account.id, m('5'), 'topup-1'), code: 'IDEMPOTENCY_CONFLICT' },
      { name: 'a settlement replayed with other seconds', run: () => other.settle('r1', 413), code: 'IDEMPOTENCY_CONFLICT' },
      { name: 'a call id reused for another account', run: () => other.authorise({ callId: 'r1', accountId: account.id + 1000, pricer: tariff }), code: 'IDEMPOTENCY_CONFLICT' },
      { name: 'a negative top-up', run: () => cc.topup(account.id, m('-1'), 'neg-1'), code: 'INVALID_AMOUNT' },
      { name: 'a top-up in another currency', run: () => cc.topup(account.id, m('1'), 'usd-1', { currency: 'USD' }), code: 'CURRENCY_MISMATCH' },
      { name: 'a top-up of an unknown account', run: () => cc.topup(account.id + 1000, m('1'), 'unknown-1'), code: 'UNKNOWN_ACCOUNT' },
      { name: 'an adjustment below the available money', run: () => cc.adjust(account.id, m('-1000'), 'big-1'), code: 'INSUFFICIENT_FUNDS' },
    ];
    for (const c of conflicts) {
      it(`refuses ${c.name} with ${c.code} and writes nothing`, async () => {
        const before = await snapshot(p, account);
        await assert.rejects(c.run(), (e: PrepaidError) => e.code === c.code);
        assert.equal(await snapshot(p, account), before);
      });
    }
  });
}
