import { strict as assert } from 'node:assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { QueryTypes, type QueryInterface } from 'sequelize';
import type { AdminDeps } from '../../app/admin/routes';
import { buildAdminApp } from '../../app/admin/server';
import { TollgateMetrics } from '../../app/metrics';
import { AppError } from '../../lib/common/errors';
import { silentLogger } from '../../lib/common/logger';
import { formatMoney, type Micros } from '../../lib/common/money';
import { CdrRepository, type CdrRecord } from '../../lib/db/cdr-repository';
import { openDatabaseUrl, type Database } from '../../lib/db/database';
import { moneyColumnMax } from '../../lib/db/money-column';
import { PrepaidRepository } from '../../lib/db/prepaid-repository';
import { RatingRepository } from '../../lib/db/rating-repository';
import { AccountService } from '../../lib/prepaid/accounts';
import { emptyTables } from '../../lib/rating/tables';
import { testDatabaseUrl } from '../support/mariadb';
import { prng } from '../support/random';

const AT = new Date('2026-12-01T10:00:00.000Z');

/** A random amount in [-max, max] whose number of digits is uniform: tiny, middling and huge alike. */
function randomAmount(rand: () => number, max: Micros, signed = true): Micros {
  const digits = 1 + Math.floor(rand() * max.toString().length);
  let v = 0n;
  for (let i = 0; i < digits; i++) v = v * 10n + BigInt(Math.floor(rand() * 10));
  if (v > max) v = max - (v % 1000n);
  return signed && rand() < 0.5 ? -v : v;
}

function cdr(callId: string, cost: Micros): CdrRecord {
  return {
    callId, instanceId: 'i1', sipCallId: null, inviteAt: AT, answerAt: AT, endAt: AT, callerDialled: null, callerE164: null, calleeDialled: null,
    calleeE164: null, presentedCaller: null, scope: 'public', service: 'voice.public', vpnGroup: null, accountId: 1, ingressTrunk: null,
    egressTrunk: null, billableSeconds: 1, grantedSeconds: 1, disposition: 'answered', releaseCause: null, sipStatus: 200, sipReason: null,
    ruleId: null, tariffId: null, currency: 'EUR', cost, ledgerKey: null,
  };
}

async function rejectsWith(p: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof AppError, `an AppError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (message) assert.match(err.message, message);
    return true;
  });
}

for (const dialect of ['mariadb', 'sqlite'] as const) {
  describe(`exact money on ${dialect}`, function () {
    this.timeout(300_000);
    let db: Database;
    let dir: string;
    let max: Micros;

    before(async () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tg-money-'));
      db = await openDatabaseUrl(dialect === 'mariadb' ? await testDatabaseUrl('money') : `sqlite:${path.join(dir, 'money.sqlite')}`);
      await db.migrate();
      max = moneyColumnMax(db.dialect);
    });
    after(async () => {
      await db?.close();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    it('stores and reads back 2,000 random six-place amounts across the whole column range, extremes and tiny values included', async () => {
      const rand = prng(20261201);
      const amounts: Micros[] = [max, -max, 1n, -1n, 0n, 50n, 130_620n, 99_999_999_999_999_999n, max - 1n];
      while (amounts.length < 2000) amounts.push(randomAmount(rand, max));
      const cdrs = new CdrRepository(db);
      for (const [i, cost] of amounts.entries()) await cdrs.write(cdr(`rt-${i}`, cost));
      for (const [i, cost] of amounts.entries()) assert.equal((await cdrs.findByCallId(`rt-${i}`))!.cost, cost, `cdr cost ${formatMoney(cost)}`);

      // Account money columns and the ledger: each amount posted and read back exactly.
      const repo = new PrepaidRepository(db);
      const account = await repo.createAccount({ code: 'roundtrip', kind: 'postpaid', currency: 'EUR', lowBalanceThreshold: max, creditLimit: 1n }, AT);
      assert.equal(account.lowBalanceThreshold, max);
      let balance = 0n;
      for (const [i, a] of amounts.slice(0, 500).entries()) {
        // Back to zero, then the amount itself: the balance then holds exactly it.
        if (balance !== 0n) await repo.postEntry({ accountId: account.id, kind: 'adjustment', amount: -balance, idempotencyKey: `rt-${i}-zero`, guardAvailable: false, at: AT });
        balance = 0n;
        if (a === 0n) continue;
        const { entry } = await repo.postEntry({ accountId: account.id, kind: 'adjustment', amount: a, idempotencyKey: `rt-${i}`, guardAvailable: false, at: AT });
        balance = a;
        assert.equal(entry.balanceAfter, a);
        assert.equal((await repo.getAccount(account.id))!.balance, a);
        const stored = (await repo.findEntry(`rt-${i}`))!;
        assert.deepEqual([stored.amount, stored.balanceAfter], [a, a]);
      }
    });

    it('sums a random ledger of 10,000 entries in SQL exactly, against a BigInt oracle', async () => {
      const repo = new PrepaidRepository(db);
      const accounts = [];
      for (let i = 0; i < 8; i++) accounts.push(await repo.createAccount({ code: `ledger-${i}`, kind: 'prepaid', currency: 'EUR' }, AT));
      const oracle = new Map<number, Micros>(accounts.map((a) => [a.id, 0n]));
      const perAccount = 1250;
      // One writer per account: the accounts run side by side, each one's entries in order.
      await Promise.all(accounts.map(async (a, ai) => {
        // One generator per account: the same ledger whatever the interleaving.
        const rand = prng(77 + ai);
        for (let i = 0; i < perAccount; i++) {
          const balance = oracle.get(a.id)!;
          let amount = randomAmount(rand, max);
          if (balance + amount < 0n || balance + amount > max) amount = -amount;
          if (balance + amount < 0n || balance + amount > max || amount === 0n) amount = amount < 0n ? -balance : max - balance;
          if (amount === 0n) amount = balance > 0n ? -1n : 1n;
          const { entry } = await repo.postEntry({ accountId: a.id, kind: 'adjustment', amount, idempotencyKey: `l-${ai}-${i}`, guardAvailable: amount < 0n, at: AT });
          oracle.set(a.id, balance + amount);
          assert.equal(entry.balanceAfter, balance + amount);
        }
      }));
      const [count] = await db.sequelize.query<{ n: number | string }>("SELECT COUNT(*) AS n FROM ledger_entries WHERE idempotency_key LIKE 'l-%'", { type: QueryTypes.SELECT });
      assert.equal(Number(count!.n), 10_000);
      const audit = await new AccountService(repo).check();
      let total = 0n;
      for (const a of accounts) {
        const row = audit.find((x) => x.accountId === a.id)!;
        assert.equal(row.ledgerSum, oracle.get(a.id), `ledger SUM of ${a.code}`);
        assert.equal(row.balance, oracle.get(a.id), `balance of ${a.code}`);
        assert.ok(row.ok);
        total += row.ledgerSum;
      }
      const expected = [...oracle.values()].reduce((x, y) => x + y, 0n);
      assert.equal(total, expected);
      // eslint-disable-next-line no-console -- a figure the report quotes
      console.log(`      ${dialect}: 10,000 entries, ledger total ${formatMoney(total)}`);
    });

    it('refuses an amount the column cannot hold with a typed error before the database, and a top-up that would overflow the balance', async () => {
      const repo = new PrepaidRepository(db);
      const service = new AccountService(repo);
      const a = await repo.createAccount({ code: 'range', kind: 'prepaid', currency: 'EUR' }, AT);
      await service.topup(a.id, 10_000_000n, 'range-1');
      // 99999999999999.999999 is the largest DECIMAL(20,6): on a balance of 10 it overflows on MariaDB;
      // on SQLite it is already beyond what 64 bits of micro-units hold.
      await rejectsWith(service.topup(a.id, 99_999_999_999_999_999_999n, 'range-2'), 'AMOUNT_OUT_OF_RANGE', /outside what the database holds/);
      await rejectsWith(service.topup(a.id, max + 1n, 'range-3'), dialect === 'mariadb' ? 'INVALID_AMOUNT' : 'AMOUNT_OUT_OF_RANGE');
      await rejectsWith(repo.postEntry({ accountId: a.id, kind: 'adjustment', amount: max + 1n, idempotencyKey: 'range-4', guardAvailable: false, at: AT }), 'AMOUNT_OUT_OF_RANGE');
      await rejectsWith(new CdrRepository(db).write(cdr('too-big', max + 1n)), 'AMOUNT_OUT_OF_RANGE');
      assert.equal((await repo.getAccount(a.id))!.balance, 10_000_000n, 'nothing was written');
      assert.equal((await repo.listEntries(a.id, 10)).length, 1);
      assert.equal(await new CdrRepository(db).findByCallId('too-big'), undefined);
    });

    it('answers an admin API top-up that would overflow the balance with 400 AMOUNT_OUT_OF_RANGE, not a 500', async () => {
      const repo = new PrepaidRepository(db);
      const a = await repo.createAccount({ code: 'range-api', kind: 'prepaid', currency: 'EUR' }, AT);
      await new AccountService(repo).topup(a.id, 10_000_000n, 'range-api-1');
      const deps = {
        instanceId: 'money-test', accounts: new AccountService(repo), calls: { liveCalls: () => [], endCall: async () => false },
        metrics: new TollgateMetrics({ processMetrics: false }), pingDatabase: async () => undefined, sipConnected: () => true, draining: () => false,
      } as unknown as AdminDeps;
      const app = buildAdminApp(deps, 'money-token', silentLogger());
      try {
        const res = await app.inject({
          method: 'POST', url: `/accounts/${a.id}/topups`, headers: { authorization: 'Bearer money-token' },
          payload: { amount: '99999999999999.999999', key: 'range-api-2' },
        });
        assert.equal(res.statusCode, 400, res.body);
        assert.equal((res.json() as { error: string }).error, 'AMOUNT_OUT_OF_RANGE');
        assert.match((res.json() as { message: string }).message, /outside what the database holds/);
      } finally {
        await app.close();
      }
      assert.equal((await repo.getAccount(a.id))!.balance, 10_000_000n);
    });

    it('imports tariff amounts that read back exactly (0.130620, 0.000050, 99999999999.999999) and refuses one the column cannot hold', async () => {
      const rating = new RatingRepository(db);
      const prices = ['0.130620', '0.000050', '99999999999.999999', formatMoney(max), '0.000001', '0.000000'];
      const tables = emptyTables();
      tables.services.push({ id: '1', code: 'voice.public', name: null });
      prices.forEach((p, i) => {
        tables.tariffs.push({ id: String(i + 1), code: `t${i + 1}`, name: null, currency: 'EUR', connect_fee: p, minimum_charge: '0', free_seconds: '0', time_zone: null });
        tables.tariff_steps.push({ id: String(i + 1), tariff_id: String(i + 1), from_second: '0', increment_seconds: '1', price_per_increment: p });
      });
      await rating.replaceTables(tables);
      const back = await rating.readTables();
      assert.deepEqual(back.tariffs.map((t) => t.connect_fee), prices);
      assert.deepEqual(back.tariff_steps.map((t) => t.price_per_increment), prices);
      const raw = await rating.load();
      assert.deepEqual(raw.tariffSteps.map((s) => s.pricePerIncrement), prices);

      const tooBig = emptyTables();
      tooBig.tariffs.push({ id: '9', code: 'huge', name: null, currency: 'EUR', connect_fee: formatMoney(max + 1n), minimum_charge: '0', free_seconds: '0', time_zone: null });
      await rejectsWith(rating.replaceTables(tooBig), 'AMOUNT_OUT_OF_RANGE', /tariffs row 9 connect_fee/);
      assert.deepEqual((await rating.readTables()).tariffs.map((t) => t.connect_fee), prices, 'the refused import changed nothing');
    });

    // MySQL itself holds only six-place decimals in DECIMAL(20,6); SQLite's integer column can be hand-edited to a fraction.
    if (dialect === 'sqlite') {
      it('refuses to read a stored money value that is not a whole number of micro-units, naming table, row and column', async () => {
        const repo = new PrepaidRepository(db);
        const a = await repo.createAccount({ code: 'garbled', kind: 'prepaid', currency: 'EUR' }, AT);
        await db.sequelize.query('UPDATE accounts SET balance = 0.015 WHERE id = ?', { replacements: [a.id] });
        await rejectsWith(repo.getAccount(a.id), 'DB_INVALID_AMOUNT', new RegExp(`accounts row ${a.id} balance holds "0.015"`));
      });
    }
  });
}

describe('an SQLite database from before exact money', function () {
  this.timeout(60_000);
  let dir: string;
  before(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tg-money-old-')); });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** The schema as migrations 0001-0005 left it, recorded as applied. */
  async function legacyDatabase(file: string): Promise<Database> {
    const db = await openDatabaseUrl(`sqlite:${file}`);
    const qi = db.sequelize.getQueryInterface();
    const names = ['0001-core', '0002-prepaid', '0003-rating', '0004-vpn', '0005-reservation-recovery'];
    for (const name of names) {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const mod = require(`../../lib/db/migrations/${name}`) as { up: (p: { context: QueryInterface }) => Promise<void> };
      await mod.up({ context: qi });
    }
    await db.sequelize.query('CREATE TABLE schema_migrations (name VARCHAR(255) NOT NULL PRIMARY KEY)');
    for (const name of names) await db.sequelize.query('INSERT INTO schema_migrations (name) VALUES (?)', { replacements: [name] });
    return db;
  }

  it('is migrated to integers of micro-units, every amount kept, ids and indexes intact', async () => {
    const file = path.join(dir, 'old.sqlite');
    const db = await legacyDatabase(file);
    // As the old code wrote them: doubles from CAST(... AS REAL) and ROUND(..., 6), whole numbers as integers.
    await db.sequelize.query(`INSERT INTO accounts (id, code, kind, currency, status, balance, reserved, credit_limit, low_balance_threshold, live_calls, created_at, updated_at)
      VALUES (7, 'old', 'prepaid', 'EUR', 'active', CAST('12.345678' AS REAL), CAST('0.13062' AS REAL), 0, NULL, 0, '2026-01-01 00:00:00.000', '2026-01-01 00:00:00.000')`);
    await db.sequelize.query(`INSERT INTO ledger_entries (account_id, kind, amount, balance_after, idempotency_key, created_at)
      VALUES (7, 'topup', CAST('12.345678' AS REAL), CAST('12.345678' AS REAL), 'old-1', '2026-01-01 00:00:00.000')`);
    await db.sequelize.query(`INSERT INTO tariffs (id, code, currency, connect_fee, minimum_charge, free_seconds) VALUES (3, 'old', 'EUR', CAST('0.000050' AS REAL), 1, 0)`);
    await db.sequelize.query(`INSERT INTO tariff_steps (id, tariff_id, from_second, increment_seconds, price_per_increment) VALUES (4, 3, 0, 60, CAST('0.130620' AS REAL))`);
    const applied = await db.migrate();
    assert.ok(applied.includes('0006-exact-money-sqlite'), applied.join(','));

    const repo = new PrepaidRepository(db);
    const account = (await repo.getAccount(7))!;
    assert.equal(formatMoney(account.balance), '12.345678');
    assert.equal(formatMoney(account.reserved), '0.130620');
    assert.equal(account.lowBalanceThreshold, null);
    assert.equal(formatMoney((await repo.findEntry('old-1'))!.amount), '12.345678');
    const tables = await new RatingRepository(db).readTables();
    assert.deepEqual([tables.tariffs[0]!.connect_fee, tables.tariffs[0]!.minimum_charge, tables.tariff_steps[0]!.price_per_increment], ['0.000050', '1.000000', '0.130620']);
    const indexes = await db.sequelize.query<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'accounts' AND sql IS NOT NULL", { type: QueryTypes.SELECT });
    assert.deepEqual(indexes.map((i) => i.name), ['accounts_code_uq']);
    const next = await repo.createAccount({ code: 'new', kind: 'prepaid', currency: 'EUR' }, AT);
    assert.equal(next.id, 8, 'auto-increment continues');
    await db.close();
  });

  it('stops at a stored value that is not a number, naming table, row and column, and converts nothing', async () => {
    const file = path.join(dir, 'garbled.sqlite');
    const db = await legacyDatabase(file);
    await db.sequelize.query(`INSERT INTO cdrs (id, call_id, invite_at, end_at, disposition, cost, created_at) VALUES (5, 'c5', '2026-01-01', '2026-01-01', 'answered', 'n/a', '2026-01-01')`);
    await rejectsWith(db.migrate(), 'DB_INVALID_AMOUNT', /cdrs row 5 cost holds "n\/a"/);
    const [col] = await db.sequelize.query<{ type: string }>("SELECT type FROM pragma_table_info('cdrs') WHERE name = 'cost'", { type: QueryTypes.SELECT });
    assert.match(col!.type, /^DECIMAL/i, 'the table was left as it was');
    await db.close();
  });
});
