import { strict as assert } from 'node:assert';
import type { CdrRecord } from '../../lib/db/cdr-repository';
import { openDatabaseUrl, type Database } from '../../lib/db/database';
import { PrepaidRepository } from '../../lib/db/prepaid-repository';
import { VpnRepository } from '../../lib/db/vpn-repository';
import { AccountService } from '../../lib/prepaid';
import { allFarEndsAt, NUMBERING, PEOPLE, PRICE_PER_SECOND, seedCallWorld, type FixtureIds } from '../support/call-fixture';
import { cdrOf, checkBooks, ledgerCharge, placeCall, startFarEnd, type CallerRun, type FarEndProcess } from '../support/calls';
import { testDatabaseUrl } from '../support/mariadb';
import { startProduct, type Product } from '../support/product';

const HOLD_MS = 15_000;

describe('suspending an account or a group ends its live calls at once, settled exactly (MariaDB, SIPp)', function () {
  this.timeout(180_000);
  let db: Database;
  let product: Product;
  let far: FarEndProcess;
  let ids: FixtureIds;
  const cdrs = new Map<string, CdrRecord>();
  const runs = new Map<string, CallerRun>();
  let suspendedAt = 0;

  before(async () => {
    const url = await testDatabaseUrl('groups_suspend');
    db = await openDatabaseUrl(url);
    await db.migrate();
    far = await startFarEnd('uas-answer.xml', 'udp', 1000);
    ids = await seedCallWorld(db, allFarEndsAt(far.port), 'udp');
    product = await startProduct({ databaseUrl: url, config: { prepaid: { grantSeconds: 30, reauthLeadSeconds: 2 }, calls: { onSuspend: 'now', suspendCheckSeconds: 0.5 } } });
    const place = (name: string, scenario: string, caller: string, dialled: string, holdMs: number) =>
      placeCall({ scenario, caller, dialled, transport: 'udp', sipPort: product.sipPort, holdMs, timeoutMs: 60_000 }).then(async (r) => {
        runs.set(name, r);
        cdrs.set(name, await cdrOf(db, r.sipCallId, 30_000));
      });
    const calls = [
      place('account', 'uac-call-expect-bye.xml', PEOPLE.alice.e164, PEOPLE.office.ext, HOLD_MS),
      place('group', 'uac-call-expect-bye.xml', PEOPLE.bob.e164, PEOPLE.office.ext, HOLD_MS),
      place('other', 'uac-call-caller-hangs-up.xml', PEOPLE.dora.e164, '03077700099', 5000),
    ];
    // Bounded: three answers, then the suspensions.
    const until = Date.now() + 30_000;
    while (product.logs.filter((l) => l.message === 'call answered').length < 3 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    assert.equal(product.logs.filter((l) => l.message === 'call answered').length, 3, 'three calls up');
    await new Promise((r) => setTimeout(r, 1100)); // a second or more of talk to charge
    suspendedAt = Date.now();
    await new AccountService(new PrepaidRepository(db)).update(ids.accounts.alice, { status: 'suspended' });
    await new VpnRepository(db).changeValidated(NUMBERING, (repo) => repo.updateGroup('acme', { status: 'suspended' }));
    await Promise.all(calls);
  });

  after(async () => {
    await product?.stop();
    await far?.stop();
    await db?.close();
  });

  it('ends the suspended account\'s call and the suspended group\'s call at once, with a Reason', () => {
    for (const name of ['account', 'group']) {
      const r = runs.get(name)!;
      const c = cdrs.get(name)!;
      assert.equal(r.result.exitCode, 0, `${name}: SIPp exit ${r.result.exitCode}\n${r.result.stdout.slice(-800)}`);
      assert.deepEqual([c.disposition, c.releaseCause], ['answered', 'suspended'], name);
      assert.ok(c.endAt.getTime() - suspendedAt < 8_000, `${name} ended within the check interval and a directory reload, not at the caller's hang-up`);
      assert.ok(c.billableSeconds < HOLD_MS / 1000 - 3);
      assert.match(r.reason ?? '', /suspended/);
    }
  });

  it('settles each exactly: the CDR cost is the tariff price of the seconds talked, and the ledger charge', async () => {
    for (const name of ['account', 'group']) {
      const c = cdrs.get(name)!;
      assert.ok(c.billableSeconds >= 1);
      assert.equal(c.cost, BigInt(c.billableSeconds) * PRICE_PER_SECOND.onnet);
      assert.equal(await ledgerCharge(db, c.ledgerKey), c.cost);
    }
  });

  it('leaves other callers\' calls alone', () => {
    const c = cdrs.get('other')!;
    assert.deepEqual([c.disposition, c.releaseCause], ['answered', 'caller_bye']);
  });

  it('leaves the books exact', async () => {
    const books = await checkBooks(db);
    assert.deepEqual(books.problems, []);
    assert.equal(books.openReservations, 0);
  });
});
