import { strict as assert } from 'node:assert';
import { creditControl, fundedAccount, openPrepaidDb, type Backend, type PrepaidDb } from '../support/prepaid-fixtures';

/** The suspension sweep's read: every live call's paying account in one statement (per 500). */
for (const backend of ['mariadb', 'sqlite'] as Backend[]) {
  describe(`account statuses in one read (${backend})`, function () {
    this.timeout(120_000);
    let p: PrepaidDb;
    before(async () => { p = await openPrepaidDb(backend); });
    after(async () => { await p?.close(); });

    async function statements(fn: () => Promise<unknown>): Promise<number> {
      let n = 0;
      p.db.sequelize.addHook('afterQuery', 'count', () => { n++; });
      try { await fn(); } finally { p.db.sequelize.removeHook('afterQuery', 'count'); }
      return n;
    }

    it('gives each account its status, leaves out ids with no account, in one statement', async () => {
      const cc = creditControl(p.repo, 'statuses');
      const active = await fundedAccount(cc, '1.00');
      const suspended = await fundedAccount(cc, '1.00');
      const closed = await fundedAccount(cc, '0');
      await cc.accounts.update(suspended.id, { status: 'suspended' });
      await cc.accounts.update(closed.id, { status: 'closed' });
      let got = new Map<number, string>();
      const n = await statements(async () => { got = await cc.accounts.statuses([active.id, suspended.id, closed.id, 987_654_321, active.id]); });
      assert.equal(n, 1);
      assert.deepEqual([...got.entries()].sort((a, b) => a[0] - b[0]), [[active.id, 'active'], [suspended.id, 'suspended'], [closed.id, 'closed']]);
      assert.equal((await cc.accounts.statuses([])).size, 0);
    });

    it('reads 1,200 ids in three bounded statements', async () => {
      const cc = creditControl(p.repo, 'statuses');
      const a = await fundedAccount(cc, '1.00');
      const ids = [a.id, ...Array.from({ length: 1199 }, (_, i) => 900_000_000 + i)];
      let got = new Map<number, string>();
      const n = await statements(async () => { got = await cc.accounts.statuses(ids); });
      assert.equal(n, 3);
      assert.deepEqual([...got.entries()], [[a.id, 'active']]);
    });
  });
}
