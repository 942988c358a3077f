import assert from 'node:assert/strict';
import { parseMoney, type Micros } from '../../../lib/common/money';
import { settleKey } from '../../../lib/prepaid';
import { capHolds, Directory, localPeriods, resolveCall, type CallBudget, type MemberCaps } from '../../../lib/vpn';
import { perSecond } from '../../support/prepaid-fixtures';
import { bench } from '../prepaid/support';
import { fixtureData, PLAN } from './fixture';

const eur = (s: string): Micros => parseMoney(s);
const HOUR = 3_600_000;

describe('group budgets: the periods of member caps', () => {
  const cases: Array<[string, string, number, string, string]> = [
    ['noon UTC', '2026-12-01T12:00:00Z', 0, '2026-12-01', '2026-12-01'],
    ['just before local midnight', '2026-11-30T22:59:59Z', HOUR, '2026-11-30', '2026-11-01'],
    ['local midnight, a new month', '2026-11-30T23:00:00Z', HOUR, '2026-12-01', '2026-12-01'],
    ['west of UTC, still the old day', '2027-01-01T03:00:00Z', -5 * HOUR, '2026-12-31', '2026-12-01'],
  ];
  for (const [why, at, offset, day, month] of cases) {
    it(why, () => assert.deepEqual(localPeriods(new Date(at), offset), { day, month }));
  }

  it('a call holds money on the member\'s cap account of the day and of the month it starts in', () => {
    const budget: CallBudget = { payerAccountId: 50, pool: true, memberId: 7, caps: { perCall: eur('1'), perDay: eur('5'), perMonth: eur('50') } };
    assert.deepEqual(capHolds(budget, new Date('2026-12-01T12:00:00Z'), 0).map((h) => [h.period, h.accountCode, h.cap]), [
      ['day', 'cap:m7:day:2026-12-01', eur('5')], ['month', 'cap:m7:month:2026-12-01', eur('50')],
    ]);
    assert.deepEqual(capHolds({ ...budget, caps: { perCall: eur('1'), perDay: null, perMonth: null } }, new Date(), 0), [], 'a per-call cap alone holds nothing');
  });
});

describe('group budgets: who pays a member\'s call', () => {
  const data = fixtureData();
  data.groups[0] = { ...data.groups[0]!, poolAccountId: 900, privatePrefix: '*7' };
  data.members[0] = { ...data.members[0]!, caps: { perCall: null, perDay: eur('3'), perMonth: null }, personalAccountId: 901 };
  data.members[4] = { ...data.members[4]!, caps: { perCall: eur('2'), perDay: null, perMonth: null } };
  const directory = Directory.build(data, PLAN);
  const cases: Array<[string, string, string, number, Partial<CallBudget> | undefined]> = [
    ['a member of a group with a pool: the pool, under the member\'s caps', '4930100001', '1002', 900, { pool: true, memberId: 1, caps: { perCall: null, perDay: eur('3'), perMonth: null } }],
    ['a member without caps: the pool alone', '4930100002', '1001', 900, { pool: true, memberId: 2 }],
    ['a private call: the personal account, no budget', '4930100001', '*71002', 901, undefined],
    ['caps without a pool: the member\'s own account under its caps', '4989200001', '22', 105, { pool: false, memberId: 5 }],
    ['no pool, no caps: the subscriber account as always', '4989200002', '21', 106, undefined],
    ['a caller who is no member', '4930555000', '030100001', 109, undefined],
  ];
  for (const [why, caller, dialled, payer, budget] of cases) {
    it(why, () => {
      const r = resolveCall(directory, { caller, dialled });
      assert.ok(r.ok, r.ok ? '' : r.refusal.reason);
      assert.equal(r.resolution.caller.accountId, payer);
      if (budget === undefined) assert.equal(r.resolution.budget, undefined);
      else for (const [k, v] of Object.entries(budget)) assert.deepEqual(r.resolution.budget?.[k as keyof CallBudget], v, k);
    });
  }

  it('refuses a cap that is not more than zero', () => {
    const bad = fixtureData();
    bad.members[0] = { ...bad.members[0]!, caps: { perCall: 0n, perDay: null, perMonth: null } as MemberCaps };
    assert.throws(() => Directory.build(bad, PLAN), /cap perCall must be more than zero/);
  });
});

describe('group budgets: one reservation on the pool and the member cap', () => {
  // perSecond: 0.01 EUR/s, first step 60 s; a grant of 60 s costs 0.60.
  const GRANT = eur('0.60');

  it('200 calls at once, the pool buys 20 grants and one member\'s cap 3: exactly 3 of that member and 17 others connect, both levels exact', async () => {
    const b = bench({ grantSeconds: 60 });
    const pool = await b.account('12.00');
    const capped = await b.account('1.80');
    const other = await b.account('0');
    const pricer = perSecond();
    // Interleaved: the capped member's calls race the others' for the pool.
    const calls = Array.from({ length: 200 }, (_, i) => (i % 2 === 0
      ? { callId: `cap-${i}`, accountId: pool.id, extraHolds: [capped.id], pricer, member: 'capped' }
      : { callId: `oth-${i}`, accountId: pool.id, extraHolds: [] as number[], pricer, member: 'other' }));
    void other;
    const results = await Promise.all(calls.map((c) => b.cc.authorise({ callId: c.callId, accountId: c.accountId, extraHolds: c.extraHolds, pricer: c.pricer })));
    const granted = calls.filter((_, i) => results[i]!.granted);
    assert.equal(granted.length, 20, 'the pool buys exactly 20 grants');
    assert.equal(granted.filter((c) => c.member === 'capped').length, 3, 'the cap buys exactly 3');
    for (const r of results) if (!r.granted) assert.equal(r.refusal.code, 'INSUFFICIENT_FUNDS');
    assert.equal((await b.store.getAccount(pool.id))!.reserved, GRANT * 20n);
    assert.equal((await b.store.getAccount(capped.id))!.reserved, GRANT * 3n);

    let poolCharged = 0n;
    let capCharged = 0n;
    for (const [i, c] of granted.entries()) {
      await b.cc.answer(c.callId, pricer);
      const s = await b.cc.settle(c.callId, 1 + ((i * 7) % 60));
      poolCharged += s.charged;
      if (c.member === 'capped') capCharged += s.charged;
    }
    const p = (await b.store.getAccount(pool.id))!;
    const m = (await b.store.getAccount(capped.id))!;
    assert.deepEqual([p.balance, p.reserved, p.liveCalls], [eur('12.00') - poolCharged, 0n, 0]);
    assert.deepEqual([m.balance, m.reserved, m.liveCalls], [eur('1.80') - capCharged, 0n, 0]);
    const capEntries = (await b.cc.accounts.ledger(capped.id, 100)).filter((e) => e.kind === 'charge');
    assert.equal(capEntries.reduce((s, e) => s - e.amount, 0n), capCharged, 'the cap account\'s ledger holds exactly the member\'s charges');
    assert.ok(capEntries.every((e) => e.idempotencyKey.startsWith(settleKey(e.callId!))), 'under the call\'s settle key');
    for (const a of await b.store.auditAccounts()) assert.ok(a.ok, `books of ${a.code}`);
  });

  it('a per-call cap bounds the grant to the seconds it buys, final', async () => {
    const b = bench({ grantSeconds: 300 });
    const pool = await b.account('100.00');
    const r = await b.cc.authorise({ callId: 'per-call', accountId: pool.id, pricer: perSecond(), maxSeconds: 90 });
    assert.ok(r.granted);
    assert.deepEqual([r.grant.grantedSeconds, r.grant.final, r.grant.reserved], [90, true, eur('0.90')]);
    const tooSmall = await b.cc.authorise({ callId: 'per-call-2', accountId: pool.id, pricer: perSecond(), maxSeconds: 30 });
    assert.equal(!tooSmall.granted && tooSmall.refusal.code, 'CREDIT_LIMIT', 'a cap below the first billing step refuses');
  });
});
