import { strict as assert } from 'node:assert';
import { parseMoney, type Micros } from '../../lib/common/money';
import { holdLedgerKey, MemoryPrepaidStore, settleKey, type Account, type PrepaidStore } from '../../lib/prepaid';
import { openPrepaidDb, type Backend, type PrepaidDb } from '../support/prepaid-fixtures';

/**
 * A reservation across balances: the same money held on the call's account and on further ones
 * (a group pool above a member's cap), all or none, moved together, charged on each.
 */
const eur = (s: string): Micros => parseMoney(s);

for (const backend of ['mariadb', 'sqlite', 'memory'] as Array<Backend | 'memory'>) {
  describe(`prepaid reservations across balances (${backend})`, function () {
    this.timeout(60_000);
    let p: PrepaidDb | undefined;
    let store: PrepaidStore;
    let n = 0;
    const at = (): Date => new Date();
    before(async () => {
      if (backend === 'memory') {
        store = new MemoryPrepaidStore();
      } else {
        p = await openPrepaidDb(backend);
        store = p.repo;
      }
    });
    after(async () => { await p?.close(); });

    async function account(balance: string, extra: { maxCalls?: number } = {}): Promise<Account> {
      const a = await store.createAccount({ code: `h${process.pid}-${backend}-${++n}`, kind: 'prepaid', currency: 'EUR', ...extra }, at());
      if (balance !== '0') await store.postEntry({ accountId: a.id, kind: 'topup', amount: eur(balance), idempotencyKey: `top:${a.code}`, guardAvailable: false, at: at() });
      return (await store.getAccount(a.id))!;
    }

    const open = (callId: string, member: number, pools: number[], amount: Micros) => store.openReservation({
      accountId: member, extraHolds: pools, callId, currency: 'EUR', mode: 'reserved', amount, required: amount, seconds: 60, final: false,
      ownerInstance: 'holds', at: at(),
    });

    async function books(): Promise<void> {
      for (const a of await store.auditAccounts()) assert.ok(a.ok, `account ${a.code}: ${JSON.stringify(a, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}`);
    }

    it('holds, extends and charges on every balance, one ledger entry on each', async () => {
      const member = await account('10');
      const pool = await account('100');
      const callId = `both-${backend}`;
      const opened = await open(callId, member.id, [pool.id], eur('0.60'));
      assert.equal(opened.status, 'opened');
      for (const id of [member.id, pool.id]) {
        const a = (await store.getAccount(id))!;
        assert.deepEqual([a.reserved, a.liveCalls], [eur('0.60'), 1]);
      }
      assert.deepEqual((await store.findReservation(callId))!.extraHolds, [pool.id]);
      await books();
      const r = (await store.findReservation(callId))!;
      const step = await store.applyStep({
        reservationId: r.id, callId, accountId: member.id, stepKey: 'extend:1', requestedSeconds: 60, expectedAmount: eur('0.60'),
        expectedSeconds: 60, amountDelta: eur('0.60'), addedSeconds: 60, final: false, at: at(),
      });
      assert.equal(step.status, 'applied');
      for (const id of [member.id, pool.id]) assert.equal((await store.getAccount(id))!.reserved, eur('1.20'));
      await books();
      assert.deepEqual(await store.closeReservation({
        reservationId: r.id, callId, accountId: member.id, state: 'settled', seconds: 90, charge: eur('0.90'), expectedAmount: eur('1.20'),
        ledgerKey: settleKey(callId), at: at(),
      }), { status: 'closed' });
      const m = (await store.getAccount(member.id))!;
      const q = (await store.getAccount(pool.id))!;
      assert.deepEqual([m.balance, m.reserved, m.liveCalls], [eur('9.10'), 0n, 0]);
      assert.deepEqual([q.balance, q.reserved, q.liveCalls], [eur('99.10'), 0n, 0]);
      assert.equal((await store.findEntry(settleKey(callId)))!.accountId, member.id);
      const poolEntry = (await store.findEntry(holdLedgerKey(settleKey(callId), pool.id)))!;
      assert.deepEqual([poolEntry.accountId, poolEntry.amount, poolEntry.balanceAfter, poolEntry.callId], [pool.id, -eur('0.90'), eur('99.10'), callId]);
      await books();
    });

    it('refuses all or none: a pool without the money holds nothing anywhere, and names the pool', async () => {
      const member = await account('10');
      const pool = await account('0.50');
      const refused = await open(`short-pool-${backend}`, member.id, [pool.id], eur('0.60'));
      assert.equal(refused.status, 'refused');
      assert.equal(refused.status === 'refused' && refused.refusedBy, pool.id);
      assert.equal(refused.status === 'refused' && refused.account?.id, pool.id);
      for (const id of [member.id, pool.id]) assert.deepEqual([(await store.getAccount(id))!.reserved, (await store.getAccount(id))!.liveCalls], [0n, 0]);
      assert.equal(await store.findReservation(`short-pool-${backend}`), undefined);
      // The pool's call limit counts too.
      const limited = await account('100', { maxCalls: 1 });
      assert.equal((await open(`limit-1-${backend}`, member.id, [limited.id], eur('0.60'))).status, 'opened');
      const second = await open(`limit-2-${backend}`, member.id, [limited.id], eur('0.60'));
      assert.equal(second.status === 'refused' && second.refusedBy, limited.id);
      assert.equal((await store.getAccount(member.id))!.liveCalls, 1);
      await assert.rejects(open(`twice-${backend}`, member.id, [member.id], eur('0.60')), /distinct|twice/);
      const r = (await store.findReservation(`limit-1-${backend}`))!;
      await store.closeReservation({ reservationId: r.id, callId: r.callId, accountId: member.id, state: 'released', seconds: 0, charge: 0n, expectedAmount: r.amount, ledgerKey: `call:${r.callId}:release`, at: at() });
      await books();
    });

    it('refuses an extension the pool cannot hold, on no balance', async () => {
      const member = await account('10');
      const pool = await account('1.00');
      const callId = `extend-short-${backend}`;
      assert.equal((await open(callId, member.id, [pool.id], eur('0.60'))).status, 'opened');
      const r = (await store.findReservation(callId))!;
      const step = await store.applyStep({
        reservationId: r.id, callId, accountId: member.id, stepKey: 'extend:1', requestedSeconds: 60, expectedAmount: eur('0.60'),
        expectedSeconds: 60, amountDelta: eur('0.60'), addedSeconds: 60, final: false, at: at(),
      });
      assert.equal(step.status === 'refused' && step.refusedBy, pool.id);
      for (const id of [member.id, pool.id]) assert.equal((await store.getAccount(id))!.reserved, eur('0.60'));
      assert.equal((await store.findReservation(callId))!.amount, eur('0.60'));
      await store.closeReservation({ reservationId: r.id, callId, accountId: member.id, state: 'released', seconds: 0, charge: 0n, expectedAmount: r.amount, ledgerKey: `call:${callId}:release`, at: at() });
      await books();
    });

    it('never overspends a shared pool under concurrent calls from many members', async () => {
      const pool = await account('3.00');
      const members = await Promise.all(Array.from({ length: 10 }, () => account('10')));
      const outcomes = await Promise.all(members.flatMap((m, i) => [0, 1].map((k) => open(`race-${backend}-${i}-${k}`, m.id, [pool.id], eur('0.60')))));
      const opened = outcomes.filter((o) => o.status === 'opened').length;
      assert.equal(opened, 5, 'the pool holds exactly five calls of 0.60');
      assert.equal((await store.getAccount(pool.id))!.reserved, eur('3.00'));
      const memberReserved = (await Promise.all(members.map((m) => store.getAccount(m.id)))).reduce((s, a) => s + a!.reserved, 0n);
      assert.equal(memberReserved, eur('3.00'));
      await books();
    });
  });
}
