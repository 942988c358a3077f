import { strict as assert } from 'node:assert';
import { formatMoney, type Micros } from '../../lib/common/money';
import type { CreditControl, Settlement } from '../../lib/prepaid';
import { prng, tenSecondSteps, creditControl, fundedAccount, openPrepaidDb, type Backend, type PrepaidDb } from '../support/prepaid-fixtures';

const show = (v: unknown) => JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? formatMoney(x) : x));

async function assertConsistent(p: PrepaidDb): Promise<void> {
  for (const a of await p.repo.auditAccounts()) assert.ok(a.ok, `account ${a.code}: ${show(a)}`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** 200 calls at once on an account whose money buys exactly 37 first grants. */
async function raceForTheLastGrant(p: PrepaidDb, cc: CreditControl): Promise<void> {
  const tariff = tenSecondSteps();
  const grantPrice = tariff.price(300);
  assert.equal(grantPrice, 500_000n);
  // 37 grants plus a remainder that does not buy the first billing step.
  const opening = grantPrice * 37n + tariff.price(10) - 1n;
  const account = await fundedAccount(cc, formatMoney(opening));
  const results = await Promise.all(Array.from({ length: 200 }, (_, i) => cc.authorise({ callId: `race-${account.id}-${i}`, accountId: account.id, pricer: tariff })));
  const granted = results.filter((r) => r.granted);
  const refusals = new Set(results.flatMap((r) => (r.granted ? [] : [r.refusal.code])));
  assert.equal(granted.length, 37, 'exactly 37 calls granted');
  assert.deepEqual([...refusals], ['INSUFFICIENT_FUNDS']);
  for (const r of granted) if (r.granted) assert.equal(r.grant.grantedSeconds, 300);
  let mid = await cc.accounts.require(account.id);
  assert.equal(mid.reserved, grantPrice * 37n);
  assert.equal(mid.liveCalls, 37);

  const rand = prng(account.id);
  let charged = 0n;
  const settlements = await Promise.all(granted.map(async (r, i) => {
    if (!r.granted) throw new Error('unreachable');
    if (i % 5 === 0) { await cc.release(r.grant.callId); return undefined; }
    await cc.answer(r.grant.callId, tariff);
    return cc.settle(r.grant.callId, Math.floor(rand() * 301));
  }));
  for (const s of settlements) if (s) charged += s.charged;
  mid = await cc.accounts.require(account.id);
  assert.equal(mid.balance, opening - charged, 'balance = opening - the sum of the charges, to the micro-unit');
  assert.equal(mid.reserved, 0n);
  assert.equal(mid.liveCalls, 0);
  const ledger = await cc.accounts.ledger(account.id, 1000);
  const charges = ledger.filter((e) => e.kind === 'charge').reduce((s, e) => s - e.amount, 0n);
  assert.equal(charges, charged, 'ledger charges = settlement charges');
  await assertConsistent(p);
}

interface CallPlan { answer: boolean; extensions: number; seconds: number; replay: boolean }

/**
 * Many calls with random lengths, extensions, releases and replays on a few hot accounts, from
 * two instances at once. Whatever the interleaving, no prepaid balance goes below zero and every
 * balance equals its opening minus the charges.
 */
async function randomInterleaving(p: PrepaidDb, seed: number, calls: number): Promise<void> {
  const rand = prng(seed);
  const tariff = tenSecondSteps();
  const instances = [creditControl(p.repo, `seed-${seed}-a`, { grantSeconds: 60 }), creditControl(p.repo, `seed-${seed}-b`, { grantSeconds: 60 })];
  const accounts = await Promise.all([0, 1, 2].map(() => fundedAccount(instances[0]!, formatMoney(BigInt(Math.floor(rand() * 3_000_000))))));
  const opening = new Map(accounts.map((a) => [a.id, a.balance]));
  const charged = new Map<number, Micros>(accounts.map((a) => [a.id, 0n]));
  const plans: CallPlan[] = Array.from({ length: calls }, () => ({
    answer: rand() < 0.8, extensions: Math.floor(rand() * 4), seconds: Math.floor(rand() * 400), replay: rand() < 0.3,
  }));
  const delays = plans.map(() => Math.floor(rand() * 4));
  await Promise.all(plans.map(async (plan, i) => {
    const cc = instances[i % 2]!;
    const accountId = accounts[i % accounts.length]!.id;
    const callId = `s${seed}-${i}`;
    await sleep(delays[i]!);
    const auth = await cc.authorise({ callId, accountId, pricer: tariff });
    if (!auth.granted) return;
    if (plan.replay) assert.deepEqual(await cc.authorise({ callId, accountId, pricer: tariff }), { granted: true, grant: { ...auth.grant, replay: true } });
    if (!plan.answer) { await cc.release(callId); if (plan.replay) await cc.release(callId); return; }
    let grant = await cc.answer(callId, tariff);
    for (let e = 0; e < plan.extensions && !grant.final; e++) {
      await sleep(delays[(i + e) % delays.length]!);
      grant = await cc.extend(callId);
    }
    const s: Settlement = await cc.settle(callId, Math.min(plan.seconds, grant.grantedSeconds));
    if (plan.replay) assert.equal((await cc.settle(callId, s.billableSeconds)).charged, s.charged);
    charged.set(accountId, charged.get(accountId)! + s.charged);
  }));
  for (const a of accounts) {
    const now = await instances[0]!.accounts.require(a.id);
    assert.ok(now.balance >= 0n, `seed ${seed}: account ${a.code} never overspent (${formatMoney(now.balance)})`);
    assert.equal(now.balance, opening.get(a.id)! - charged.get(a.id)!, `seed ${seed}: account ${a.code} exact`);
    assert.deepEqual([now.reserved, now.liveCalls], [0n, 0]);
  }
  await assertConsistent(p);
}

for (const backend of ['mariadb', 'mysql-path', 'sqlite'] as Backend[]) {
  describe(`prepaid under concurrency (${backend})`, function () {
    this.timeout(180_000);
    let p: PrepaidDb;
    let cc: CreditControl;
    before(async () => {
      p = await openPrepaidDb(backend);
      cc = creditControl(p.repo, `race-${backend}`);
    });
    after(async () => { await p?.close(); });

    it('grants exactly 37 of 200 simultaneous calls on an account whose money buys 37, and settles them to the micro-unit', async () => {
      await raceForTheLastGrant(p, cc);
    });

    it('admits exactly as many simultaneous calls as the concurrent-call limit', async () => {
      const account = await fundedAccount(cc, '1000', { maxCalls: 5 });
      const results = await Promise.all(Array.from({ length: 50 }, (_, i) => cc.authorise({ callId: `limit-${account.id}-${i}`, accountId: account.id, pricer: tenSecondSteps() })));
      assert.equal(results.filter((r) => r.granted).length, 5);
      assert.deepEqual([...new Set(results.flatMap((r) => (r.granted ? [] : [r.refusal.code])))], ['CALL_LIMIT']);
      for (const r of results) if (r.granted) await cc.release(r.grant.callId);
      assert.equal((await cc.accounts.require(account.id)).liveCalls, 0);
      await assertConsistent(p);
    });

    const seeds = backend === 'mariadb' ? 25 : backend === 'mysql-path' ? 10 : 5;
    it(`keeps every hot account exact under random interleavings (${seeds} seeds)`, async () => {
      for (let seed = 1; seed <= seeds; seed++) await randomInterleaving(p, seed, 60);
    });
  });
}
