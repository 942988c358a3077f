import { strict as assert } from 'node:assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { QueryTypes } from 'sequelize';
import { parseMoney } from '../../lib/common/money';
import { CdrRepository, type CdrRecord } from '../../lib/db/cdr-repository';
import { openDatabaseUrl, type Database } from '../../lib/db/database';
import { PrepaidRepository } from '../../lib/db/prepaid-repository';
import { VpnRepository } from '../../lib/db/vpn-repository';
import { AccountService, holdLedgerKey, settleKey } from '../../lib/prepaid';
import { capHolds } from '../../lib/vpn';
import { allFarEndsAt, NUMBERING, PEOPLE, PRICE_PER_SECOND, seedCallWorld } from '../support/call-fixture';
import { checkBooks, ledgerCharge, SCENARIOS, startFarEnd, type FarEndProcess } from '../support/calls';
import { testDatabaseUrl } from '../support/mariadb';
import { startProduct, type Product } from '../support/product';
import { runSipp, type SippResult } from '../support/sipp';

const GRANT_SECONDS = 10;
/** One first grant of an on-net call: 10 s at 0.001 EUR/s. */
const GRANT_PRICE = BigInt(GRANT_SECONDS) * PRICE_PER_SECOND.onnet;
const CALLS = 200;
/** Callers hold longer than admitting all the calls takes, so no money comes back during the race. */
const HOLD_MS = 8000;

describe('group budget under a race: 200 calls at once, the pool buys 20 and one member\'s day cap 3 (MariaDB, SIPp)', function () {
  this.timeout(240_000);
  let db: Database;
  let product: Product;
  let far: FarEndProcess;
  let pool: number;
  let capAccount: number;
  let caller: SippResult;
  let cdrs: CdrRecord[];
  const poolMoney = GRANT_PRICE * 20n;
  const capMoney = GRANT_PRICE * 3n;

  before(async () => {
    const url = await testDatabaseUrl('groups_budget');
    db = await openDatabaseUrl(url);
    await db.migrate();
    far = await startFarEnd('uas-answer.xml', 'udp', 1000);
    await seedCallWorld(db, allFarEndsAt(far.port), 'udp');
    const accounts = new AccountService(new PrepaidRepository(db), () => new Date());
    const p = await accounts.create({ code: 'acme-pool', kind: 'prepaid', currency: 'EUR' });
    await accounts.topup(p.id, poolMoney, 'fixture:acme-pool');
    pool = p.id;
    await new VpnRepository(db).changeValidated(NUMBERING, async (repo) => {
      await repo.setPool('acme', pool);
      await repo.setCaps('acme', PEOPLE.alice.ext, { perDay: capMoney });
    });
    product = await startProduct({ databaseUrl: url, config: { prepaid: { grantSeconds: GRANT_SECONDS, reauthLeadSeconds: 2 }, rating: { timeZone: 'UTC' }, calls: { noAnswerSeconds: 20 } } });

    // The application opens today's cap accounts at start: a capped member's first call is no slower than anyone's.
    await product.waitForLog((l) => l.message === 'member cap accounts open', 30_000);
    const alice = await new VpnRepository(db).findMember('acme', PEOPLE.alice.ext);
    const [hold] = capHolds({ payerAccountId: pool, pool: true, memberId: alice.id, caps: alice.caps! }, new Date(), 0);
    capAccount = (await accounts.resolve(hold!.accountCode)).id;
    assert.equal((await accounts.require(capAccount)).balance, capMoney, 'opened with the cap');

    // Alice (capped) and Bob (only the pool) alternate, every call to the office's extension.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tg-budget-'));
    const csv = path.join(dir, 'callers.csv');
    fs.writeFileSync(csv, 'SEQUENTIAL\n' + Array.from({ length: CALLS }, (_, i) => `${i % 2 === 0 ? PEOPLE.alice.e164 : PEOPLE.bob.e164};${PEOPLE.office.ext};`).join('\n') + '\n');
    try {
      caller = await runSipp({
        scenario: { file: path.join(SCENARIOS, 'uac-call-or-402.xml') }, transport: 'udp', target: `127.0.0.1:${product.sipPort}`,
        calls: CALLS, rate: 400, limit: CALLS, injection: csv, durationMs: HOLD_MS, timeoutMs: 120_000, extraArgs: ['-recv_timeout', '60000'],
      });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    // Every call gets its CDR once settled; bounded wait.
    const until = Date.now() + 60_000;
    let n = 0;
    while (Date.now() < until) {
      const rows = await db.sequelize.query<{ n: number }>('SELECT COUNT(*) AS n FROM cdrs', { type: QueryTypes.SELECT });
      n = Number(rows[0]?.n ?? 0);
      if (n >= CALLS) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    cdrs = (await new CdrRepository(db).list({ limit: 1000 }));
  });

  after(async () => {
    await product?.stop();
    await far?.stop();
    await db?.close();
  });

  it('every call ends as SIPp expects: answered or refused 402', () => {
    assert.equal(caller.exitCode, 0, `SIPp exit ${caller.exitCode}\n${caller.stdout.slice(-1500)}`);
    assert.equal(caller.stats.successful, CALLS);
    assert.equal(cdrs.length, CALLS, 'one CDR per call');
  });

  it('connects exactly 20 calls, exactly 3 of them the capped member\'s, and refuses the rest for want of money', () => {
    const answered = cdrs.filter((c) => c.disposition === 'answered');
    const refused = cdrs.filter((c) => c.disposition === 'refused');
    assert.equal(answered.length, 20, 'the pool buys 20 first grants');
    const aliceRefusals = [...new Set(cdrs.filter((c) => c.callerE164 === PEOPLE.alice.e164 && c.disposition !== 'answered').map((c) => `${c.sipStatus} ${c.sipReason}`))];
    assert.equal(answered.filter((c) => c.callerE164 === PEOPLE.alice.e164).length, 3, `the cap buys 3; the capped member's refusals: ${aliceRefusals.join(' | ')}`);
    assert.equal(answered.filter((c) => c.callerE164 === PEOPLE.bob.e164).length, 17);
    assert.equal(refused.length, CALLS - 20);
    for (const c of refused) {
      assert.equal(c.sipStatus, 402);
      assert.match(c.sipReason ?? '', /INSUFFICIENT_FUNDS/);
    }
    for (const c of answered) assert.deepEqual([c.accountId, c.charging, c.vpnGroup], [pool, 'business', 'acme'], 'the pool paid a business call');
  });

  it('charges both levels exactly: the pool every answered call, the cap account its member\'s, each to the micro-unit and in the ledger', async () => {
    const prepaid = new PrepaidRepository(db);
    const answered = cdrs.filter((c) => c.disposition === 'answered');
    const alice = answered.filter((c) => c.callerE164 === PEOPLE.alice.e164);
    const all = answered.reduce((s, c) => s + c.cost, 0n);
    const aliceCost = alice.reduce((s, c) => s + c.cost, 0n);
    for (const c of answered) {
      assert.equal(c.cost, BigInt(c.billableSeconds) * PRICE_PER_SECOND.onnet);
      assert.equal(await ledgerCharge(db, c.ledgerKey), c.cost, 'the pool\'s ledger charge is the CDR cost');
    }
    for (const c of alice) assert.equal(await ledgerCharge(db, holdLedgerKey(settleKey(c.callId), capAccount)), c.cost, 'the cap account is charged the same');
    const p = (await prepaid.getAccount(pool))!;
    const cap = (await prepaid.getAccount(capAccount))!;
    assert.deepEqual([p.balance, p.reserved, p.liveCalls], [poolMoney - all, 0n, 0]);
    assert.deepEqual([cap.balance, cap.reserved, cap.liveCalls], [capMoney - aliceCost, 0n, 0]);
    assert.ok(p.balance >= 0n && cap.balance >= 0n, 'neither level overspent');
    assert.equal(parseMoney('0.200000'), poolMoney);
  });

  it('leaves the books exact: every balance equals its ledger, nothing reserved', async () => {
    const books = await checkBooks(db);
    assert.deepEqual(books.problems, []);
    assert.equal(books.openReservations, 0);
  });
});
