import { strict as assert } from 'node:assert';
import { QueryTypes } from 'sequelize';
import { creditControl, fundedAccount, openPrepaidDb, perSecond, type PrepaidDb } from '../support/prepaid-fixtures';

/**
 * Statements whose text varies with a batch's size (settlements written together, the suspension
 * check's account read) are sent formatted, not prepared: a prepared statement per size would stay
 * cached on every connection and on the server for the connection's life, a memory growth under a
 * steady load that ends at the server's max_prepared_stmt_count.
 */
describe('batches of every size leave no prepared statement behind (MariaDB)', function () {
  this.timeout(120_000);
  let p: PrepaidDb;
  before(async () => { p = await openPrepaidDb('mariadb'); });
  after(async () => { await p?.close(); });

  const prepares = async (): Promise<number> => {
    const [row] = await p.db.sequelize.query<{ Value: string }>("SHOW GLOBAL STATUS LIKE 'Com_stmt_prepare'", { type: QueryTypes.SELECT });
    return Number(row?.Value ?? NaN);
  };

  /** k calls authorised and answered one by one, then settled together: the first alone, the rest in one batch. */
  async function settleTogether(label: string, k: number): Promise<void> {
    const cc = creditControl(p.repo, `batch-${label}`);
    const tariff = perSecond();
    const account = await fundedAccount(cc, '100');
    const calls = Array.from({ length: k }, (_, i) => `batch-${label}-${k}-${i}`);
    for (const callId of calls) {
      assert.ok((await cc.authorise({ callId, accountId: account.id, pricer: tariff })).granted);
      await cc.answer(callId, tariff);
    }
    await Promise.all(calls.map((callId, i) => cc.settle(callId, 61 + i)));
    await cc.accounts.statuses([account.id, ...Array.from({ length: k }, (_, i) => 800_000_000 + i)]);
    for (const a of await p.repo.auditAccounts()) assert.ok(a.ok, `account ${a.code} consistent`);
  }

  it('settles and reads batches of 13 to 24 with no new statement prepared per size', async () => {
    // Warm the pool's connections with the statements of a call, with the same pattern.
    for (const k of [3, 4, 5]) await settleTogether('warm', k);
    const before = await prepares();
    const sizes = Array.from({ length: 12 }, (_, i) => 13 + i);
    for (const k of sizes) await settleTogether('sized', k);
    const prepared = (await prepares()) - before;
    // Prepared per size, this would be at least one per size (12) for the UPDATE alone.
    assert.ok(prepared <= 3, `${prepared} statements prepared for ${sizes.length} batch sizes`);
  });
});
