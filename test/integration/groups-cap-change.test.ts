import { strict as assert } from 'node:assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { QueryTypes } from 'sequelize';
import { registerEnterpriseGroupCommands } from '../../app/cli/group';
import type { CliContext } from '../../app/cli/context';
import { loadConfig } from '../../app/config/load';
import { CapAccounts } from '../../app/admission/group-budget';
import { silentLogger } from '../../lib/common/logger';
import { formatMoney } from '../../lib/common/money';
import { CdrRepository, type CdrRecord } from '../../lib/db/cdr-repository';
import { openDatabaseUrl, type Database } from '../../lib/db/database';
import { PrepaidRepository } from '../../lib/db/prepaid-repository';
import { VpnRepository } from '../../lib/db/vpn-repository';
import { AccountService } from '../../lib/prepaid';
import { capHolds, capOpeningKey } from '../../lib/vpn';
import { allFarEndsAt, PEOPLE, PRICE_PER_SECOND, seedCallWorld } from '../support/call-fixture';
import { checkBooks, SCENARIOS, startFarEnd, type FarEndProcess } from '../support/calls';
import { testDatabaseUrl } from '../support/mariadb';
import { startProduct, type Product } from '../support/product';
import { runSipp } from '../support/sipp';

const GRANT_SECONDS = 10;
const GRANT_PRICE = BigInt(GRANT_SECONDS) * PRICE_PER_SECOND.onnet;
const CALLS = 6;

describe('a cap set while the application runs applies to the member\'s very next calls (MariaDB, SIPp, CLI, admin API)', function () {
  this.timeout(180_000);
  let url: string;
  let db: Database;
  let product: Product;
  let far: FarEndProcess;
  let accounts: AccountService;
  let pool: number;

  const cli = async (...args: string[]): Promise<string> => {
    const config = loadConfig({ env: {}, overrides: { database: { dialect: 'mysql', url }, rating: { timeZone: 'UTC' } } });
    const out: string[] = [];
    const ctx: CliContext = {
      config: () => config, logger: silentLogger(), print: (t) => { out.push(t); },
      withDatabase: async (fn) => { const d = await openDatabaseUrl(url); try { return await fn(d); } finally { await d.close(); } },
    };
    const program = new Command('tollgate').exitOverride().configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
    registerEnterpriseGroupCommands(program, ctx);
    await program.parseAsync(args, { from: 'user' });
    return out.join('\n');
  };
  const dayAccountOf = async (ext: string): Promise<string> => {
    const m = await new VpnRepository(db).findMember('acme', ext);
    return capHolds({ payerAccountId: pool, pool: true, memberId: m.id, caps: m.caps! }, new Date(), 0).find((h) => h.period === 'day')!.accountCode;
  };
  const openings = async (code: string): Promise<number> => {
    const rows = await db.sequelize.query<{ n: number }>('SELECT COUNT(*) AS n FROM ledger_entries WHERE idempotency_key = $1', { bind: [capOpeningKey(code)], type: QueryTypes.SELECT });
    return Number(rows[0]?.n ?? 0);
  };

  before(async () => {
    url = await testDatabaseUrl('groups_cap_change');
    db = await openDatabaseUrl(url);
    await db.migrate();
    far = await startFarEnd('uas-answer.xml', 'udp', 1000);
    await seedCallWorld(db, allFarEndsAt(far.port), 'udp');
    accounts = new AccountService(new PrepaidRepository(db), () => new Date());
    const p = await accounts.create({ code: 'acme-pool', kind: 'prepaid', currency: 'EUR' });
    await accounts.topup(p.id, GRANT_PRICE * 100n, 'fixture:acme-pool');
    pool = p.id;
    await new VpnRepository(db).changeValidated(loadConfig({ env: {} }).numbering, (repo) => repo.setPool('acme', pool).then(() => undefined));
    product = await startProduct({ databaseUrl: url, config: { prepaid: { grantSeconds: GRANT_SECONDS, reauthLeadSeconds: 2 }, rating: { timeZone: 'UTC' }, calls: { noAnswerSeconds: 20 } } });
    await product.waitForLog((l) => l.message === 'member cap accounts open', 30_000);
  });

  after(async () => {
    await product?.stop();
    await far?.stop();
    await db?.close();
  });

  it('through the admin API: the cap accounts are open when the answer comes, and of 6 calls at once right after, exactly the 2 the cap buys connect', async () => {
    const res = await fetch(`http://127.0.0.1:${product.adminPort}/groups/acme/members/${PEOPLE.alice.ext}/caps`, {
      method: 'PATCH', headers: { Authorization: `Bearer ${product.adminToken}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ perDay: formatMoney(GRANT_PRICE * 2n) }),
    });
    assert.equal(res.status, 200, await res.text());
    const code = await dayAccountOf(PEOPLE.alice.ext);
    const cap = await accounts.resolve(code);
    assert.deepEqual([cap.balance, cap.reserved], [GRANT_PRICE * 2n, 0n], 'opened with the cap before the answer');
    assert.equal(await openings(code), 1);

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tg-cap-change-'));
    const csv = path.join(dir, 'callers.csv');
    fs.writeFileSync(csv, 'SEQUENTIAL\n' + Array.from({ length: CALLS }, () => `${PEOPLE.alice.e164};${PEOPLE.office.ext};`).join('\n') + '\n');
    let result;
    try {
      result = await runSipp({
        scenario: { file: path.join(SCENARIOS, 'uac-call-or-402.xml') }, transport: 'udp', target: `127.0.0.1:${product.sipPort}`,
        calls: CALLS, rate: 100, limit: CALLS, injection: csv, durationMs: 3000, timeoutMs: 60_000, extraArgs: ['-recv_timeout', '30000'],
      });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    assert.equal(result.exitCode, 0, result.stdout.slice(-1500));
    let cdrs: CdrRecord[] = [];
    const end = Date.now() + 30_000;
    while (Date.now() < end) {
      cdrs = (await new CdrRepository(db).list({ limit: 100 })).filter((c) => c.callerE164 === PEOPLE.alice.e164);
      if (cdrs.length >= CALLS) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(cdrs.length, CALLS, 'one CDR per call');
    assert.equal(cdrs.filter((c) => c.disposition === 'answered').length, 2, 'the cap buys two first grants');
    for (const c of cdrs.filter((x) => x.disposition !== 'answered')) assert.equal(c.sipStatus, 402);
    const after = await accounts.resolve(code);
    const spent = cdrs.reduce((s, c) => s + c.cost, 0n);
    assert.deepEqual([after.balance, after.reserved], [GRANT_PRICE * 2n - spent, 0n], 'the cap account is charged exactly the calls');
    assert.equal(await openings(code), 1, 'credited with the cap once');
  });

  it('through the CLI: the cap accounts are opened by the command itself, once however often it runs', async () => {
    const out = await cli('group', 'cap', 'acme', PEOPLE.bob.ext, '--per-day', '1.00', '--per-month', '3.00');
    assert.match(out, /2 cap account\(s\) open/);
    const code = await dayAccountOf(PEOPLE.bob.ext);
    assert.equal((await accounts.resolve(code)).balance, 1_000_000n);
    await cli('group', 'cap', 'acme', PEOPLE.bob.ext, '--per-day', '1.00');
    assert.equal((await accounts.resolve(code)).balance, 1_000_000n, 'a second run credits nothing more');
    assert.equal(await openings(code), 1);
  });

  it('a cap account missing at a call is opened on demand, once, by calls racing on two instances', async () => {
    const hold = capHolds({ payerAccountId: pool, pool: true, memberId: 999_001, caps: { perCall: null, perDay: 500_000n, perMonth: null } }, new Date(), 0)[0]!;
    const instances = [new CapAccounts(new AccountService(new PrepaidRepository(db))), new CapAccounts(new AccountService(new PrepaidRepository(db)))];
    const ids = await Promise.all(Array.from({ length: 20 }, (_, i) => instances[i % 2]!.open(hold, 'EUR')));
    assert.equal(new Set(ids).size, 1, 'one account');
    assert.equal((await accounts.require(ids[0]!)).balance, 500_000n, 'credited with the cap once');
    assert.equal(await openings(hold.accountCode), 1);
  });

  it('leaves the books exact', async () => {
    const books = await checkBooks(db);
    assert.deepEqual(books.problems, []);
    assert.equal(books.openReservations, 0);
  });
});
