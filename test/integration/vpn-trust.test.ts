import { strict as assert } from 'node:assert';
import { QueryTypes } from 'sequelize';
import { parseMoney } from '../../lib/common/money';
import { openDatabaseUrl, type Database } from '../../lib/db/database';
import { PrepaidRepository } from '../../lib/db/prepaid-repository';
import { VpnRepository } from '../../lib/db/vpn-repository';
import { allFarEndsAt, NUMBERING, PEOPLE, PRICE_PER_SECOND, seedCallWorld, type FixtureIds } from '../support/call-fixture';
import { cdrOf, ledgerCharge, placeCall, startFarEnd, type FarEndProcess } from '../support/calls';
import { testDatabaseUrl } from '../support/mariadb';
import { startProduct, type Product } from '../support/product';

/** A carrier trunk reachable on loopback: SIPp sends from this address. */
const CARRIER_ADDRESS = '127.0.0.3';

describe('a member\'s number from a carrier trunk is not the member (MariaDB, SIPp over loopback)', function () {
  this.timeout(120_000);
  let db: Database;
  let product: Product;
  let far: FarEndProcess;
  let ids: FixtureIds;

  before(async () => {
    const url = await testDatabaseUrl('trust');
    db = await openDatabaseUrl(url);
    await db.migrate();
    far = await startFarEnd('uas-answer.xml', 'udp', 1000);
    ids = await seedCallWorld(db, allFarEndsAt(far.port), 'udp');
    // A carrier on loopback that even trusts its own P-Asserted-Identity: it still never speaks for members.
    await new VpnRepository(db).changeValidated(NUMBERING, (repo) => repo.addTrunk({
      name: 'carrier-loop', addresses: [CARRIER_ADDRESS], host: '127.0.0.1', port: far.port, transport: 'udp', paiTrusted: true,
    }));
    product = await startProduct({ databaseUrl: url, config: { prepaid: { grantSeconds: 2, reauthLeadSeconds: 1 } } });
  });

  after(async () => {
    await product?.stop();
    await far?.stop();
    await db?.close();
  });

  it('the added trunk does not serve members by default', async () => {
    const trunks = await new VpnRepository(db).listTrunks();
    assert.deepEqual(trunks.filter((t) => ['pbx', 'carrier-loop'].includes(t.name)).map((t) => [t.name, t.servesMembers]), [['carrier-loop', false], ['pbx', true]]);
  });

  it('refuses the carrier call 403 UNTRUSTED_CALLER and charges the member nothing, while the same call from the PBX is the member\'s', async () => {
    const before = (await new PrepaidRepository(db).getAccount(ids.accounts.alice))!.balance;
    const spoofed = await placeCall({ scenario: 'uac-expect-403.xml', caller: PEOPLE.alice.e164, dialled: PEOPLE.bob.e164, transport: 'udp', sipPort: product.sipPort, localHost: CARRIER_ADDRESS, timeoutMs: 20_000 });
    assert.equal(spoofed.result.exitCode, 0, `SIPp: ${spoofed.result.stdout.slice(-800)}`);
    assert.match(spoofed.reason ?? '', /UNTRUSTED_CALLER|does not serve members/);
    const refused = await cdrOf(db, spoofed.sipCallId);
    assert.deepEqual([refused.sipStatus, refused.ingressTrunk, refused.accountId, refused.cost, refused.ledgerKey], [403, 'carrier-loop', null, 0n, null]);
    assert.match(refused.sipReason ?? '', /UNTRUSTED_CALLER/);
    const reservations = await db.sequelize.query('SELECT id FROM reservations WHERE call_id = ?', { replacements: [refused.callId], type: QueryTypes.SELECT });
    assert.equal(reservations.length, 0, 'no money was set aside');
    assert.equal((await new PrepaidRepository(db).getAccount(ids.accounts.alice))!.balance, before, 'the member\'s balance is untouched');

    // The control: the same From through the member-serving PBX trunk is the member, and is charged to her.
    const real = await placeCall({ scenario: 'uac-call-caller-hangs-up.xml', caller: PEOPLE.alice.e164, dialled: PEOPLE.bob.ext, transport: 'udp', sipPort: product.sipPort, timeoutMs: 20_000 });
    assert.equal(real.result.exitCode, 0, `SIPp: ${real.result.stdout.slice(-800)}`);
    const answered = await cdrOf(db, real.sipCallId);
    assert.deepEqual([answered.disposition, answered.ingressTrunk, answered.accountId, answered.scope], ['answered', 'pbx', ids.accounts.alice, 'onnet']);
    assert.equal(answered.cost, BigInt(answered.billableSeconds) * PRICE_PER_SECOND.onnet);
    assert.equal(await ledgerCharge(db, answered.ledgerKey), answered.cost);
    assert.equal((await new PrepaidRepository(db).getAccount(ids.accounts.alice))!.balance, before - answered.cost);
    assert.ok(before - answered.cost < parseMoney('10.00'));
  });
});
