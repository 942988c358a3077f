import { strict as assert } from 'node:assert';
import type { CdrRecord } from '../../lib/db/cdr-repository';
import { parseMoney } from '../../lib/common/money';
import { openDatabaseUrl, type Database } from '../../lib/db/database';
import { PrepaidRepository } from '../../lib/db/prepaid-repository';
import { RatingRepository } from '../../lib/db/rating-repository';
import { VpnRepository } from '../../lib/db/vpn-repository';
import { AccountService } from '../../lib/prepaid';
import { parseTableCsv } from '../../lib/rating/csv';
import { emptyTables } from '../../lib/rating/tables';
import { allFarEndsAt, NUMBERING, PEOPLE, PREFIX_OF, PRICE_PER_SECOND, seedCallWorld, type FixtureIds } from '../support/call-fixture';
import { cdrOf, checkBooks, ledgerCharge, placeCall, startFarEnd, type CallerRun, type FarEndProcess } from '../support/calls';
import { testDatabaseUrl } from '../support/mariadb';
import { startProduct, type Product } from '../support/product';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifyWebhook, type SpendEvent } from '../../lib/notify';

const WEBHOOK_SECRET = 'integration-webhook-secret';

/** Per-second prices (micro-units) the enterprise tariffs add to the fixture's flat ones. */
const PERSONAL_OFFNET = 4000n;
const VIRTUAL = 500n;
/** The supplier behind short code 777 (routed to the default carrier). */
const SUPPLIER = '49331234567';

/** The fixture's flat tariffs plus voice.virtual (short codes) and a personal plan's off-net price. */
async function seedEnterpriseTariffs(db: Database): Promise<void> {
  const t = emptyTables();
  t.services = parseTableCsv('services', 'id,code,name\n1,voice.onnet,On-net\n2,voice.offnet,Off-net\n3,voice.public,Public\n4,voice.virtual,Virtual on-net\n');
  t.day_types = parseTableCsv('day_types', 'id,code,name,weekdays\n1,weekday,Weekdays,"mon,tue,wed,thu,fri"\n2,weekend,Weekends,"sat,sun"\n');
  t.tariffs = parseTableCsv('tariffs', 'id,code,name,currency,connect_fee,minimum_charge,free_seconds,time_zone\n'
    + '1,ONNET,On-net,EUR,0,0,0,\n2,OFFNET,Off-net,EUR,0,0,0,\n3,PUBLIC,Public,EUR,0,0,0,\n4,VIRTUAL,Virtual,EUR,0,0,0,\n5,PERSONAL,Personal off-net,EUR,0,0,0,\n');
  t.tariff_steps = parseTableCsv('tariff_steps', 'id,tariff_id,from_second,increment_seconds,price_per_increment\n'
    + '1,1,0,1,0.001000\n2,2,0,1,0.002000\n3,3,0,1,0.003000\n4,4,0,1,0.000500\n5,5,0,1,0.004000\n');
  t.charging_rules = parseTableCsv('charging_rules', 'id,service_id,caller_plan,vpn_group,destination_prefix,day_type_id,time_from,time_to,valid_from,valid_to,priority,tariff_id,description\n'
    + '1,1,,,,,,,,,0,1,on-net\n2,2,,,,,,,,,0,2,off-net\n3,3,,,,,,,,,0,3,public\n4,4,,,,,,,,,0,4,virtual on-net\n5,2,personal,,,,,,,,10,5,private off-net\n');
  await new RatingRepository(db, 'UTC').replaceTables(t);
}

const national = (rest: string) => `9030${rest}`;

describe('enterprise VPN calls: private calls, short codes, closed user groups, screening (MariaDB, SIPp)', function () {
  this.timeout(180_000);
  let db: Database;
  let product: Product;
  let far: FarEndProcess;
  let ids: FixtureIds;
  let personal: number;
  let webhook: http.Server;
  const hooks: Array<{ body: string; signature: string; key: string }> = [];
  const runs = new Map<string, { run: CallerRun; cdr: CdrRecord }>();
  const call = async (name: string, scenario: string, caller: string, dialled: string) => {
    const run = await placeCall({ scenario, caller, dialled, transport: 'udp', sipPort: product.sipPort, timeoutMs: 30_000 });
    runs.set(name, { run, cdr: await cdrOf(db, run.sipCallId) });
  };
  const answered = async (name: string) => {
    const { run, cdr } = runs.get(name)!;
    assert.equal(run.result.exitCode, 0, `${name}: SIPp exit ${run.result.exitCode}\n${run.result.stdout.slice(-800)}`);
    assert.equal(cdr.disposition, 'answered');
    assert.ok(cdr.billableSeconds >= 1);
    assert.equal(await ledgerCharge(db, cdr.ledgerKey), cdr.cost, 'the ledger charge equals the CDR cost');
    return cdr;
  };
  const refused = (name: string, code: string) => {
    const { run, cdr } = runs.get(name)!;
    assert.equal(run.result.exitCode, 0, `${name}: SIPp exit ${run.result.exitCode}\n${run.result.stdout.slice(-800)}`);
    assert.equal(cdr.sipStatus, 403);
    assert.match(cdr.sipReason ?? '', new RegExp(code));
    assert.equal(cdr.cost, 0n);
    assert.ok(run.reason?.includes(code) || (cdr.sipReason ?? '').includes(code), 'the refusal says why');
  };

  before(async () => {
    const url = await testDatabaseUrl('vpn_enterprise');
    db = await openDatabaseUrl(url);
    await db.migrate();
    far = await startFarEnd('uas-answer.xml', 'udp', 1000);
    ids = await seedCallWorld(db, allFarEndsAt(far.port), 'udp');
    await seedEnterpriseTariffs(db);
    const accounts = new AccountService(new PrepaidRepository(db), () => new Date());
    const own = await accounts.create({ code: 'alice-personal', kind: 'prepaid', currency: 'EUR', maxCalls: 5 });
    await accounts.topup(own.id, parseMoney('5.00'), 'fixture:alice-personal');
    personal = own.id;
    const today = [0, 6].includes(new Date().getUTCDay()) ? 'weekend' : 'weekday';
    await new VpnRepository(db).changeValidated(NUMBERING, async (repo) => {
      await repo.updateGroup('acme', { privatePrefix: '*7' });
      await repo.updateMember('acme', PEOPLE.alice.ext, { personalAccountId: personal, personalPlan: 'personal' });
      await repo.addShortCode({ groupCode: 'acme', code: '777', e164: SUPPLIER, service: 'voice.virtual', description: 'supplier' });
      await repo.addCug('team', 'Team');
      await repo.putCugMember({ cugCode: 'team', groupCode: 'acme', extension: PEOPLE.bob.ext, outgoingAccess: false, incomingAccess: false });
      await repo.putCugMember({ cugCode: 'team', groupCode: 'acme', extension: PEOPLE.office.ext, outgoingAccess: true, incomingAccess: true });
      // Today's day type, the whole day: the rating calendar decides, the window always holds.
      await repo.addScreeningRule({ groupCode: 'acme', extension: PEOPLE.onnetOnly.ext, dayType: today, timeFrom: '00:00', timeTo: '24:00', callClass: 'national' });
    });
    webhook = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => { body += c.toString(); });
      req.on('end', () => {
        hooks.push({ body, signature: String(req.headers['x-tollgate-signature']), key: String(req.headers['idempotency-key']) });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => webhook.listen(0, '127.0.0.1', r));
    const hookUrl = `http://127.0.0.1:${(webhook.address() as AddressInfo).port}/spend`;
    product = await startProduct({
      databaseUrl: url,
      config: { prepaid: { grantSeconds: 2, reauthLeadSeconds: 1 }, notify: { webhook: { url: hookUrl, secret: WEBHOOK_SECRET, backoffMs: 50, maxBackoffMs: 200 } } },
    });
    await Promise.all([
      call('private', 'uac-call-caller-hangs-up.xml', PEOPLE.alice.e164, `*7${national('7770010')}`),
      call('business', 'uac-call-caller-hangs-up.xml', PEOPLE.alice.e164, national('7770011')),
      call('short code', 'uac-call-caller-hangs-up.xml', PEOPLE.onnetOnly.e164, '777'),
      call('cug outgoing', 'uac-expect-403.xml', PEOPLE.bob.e164, national('7770012')),
      call('cug incoming', 'uac-expect-403.xml', PEOPLE.alice.e164, PEOPLE.bob.ext),
      call('cug within', 'uac-call-caller-hangs-up.xml', PEOPLE.bob.e164, PEOPLE.office.ext),
      call('screened', 'uac-call-caller-hangs-up.xml', PEOPLE.onnetOnly.e164, national('7770013')),
      call('cut off', 'uac-call-expect-bye.xml', PEOPLE.poor.e164, `90${PREFIX_OF.timing.slice(2)}1234567`),
    ]);
  });

  after(async () => {
    await product?.stop();
    await far?.stop();
    await db?.close();
    await new Promise((r) => (webhook ? webhook.close(r) : r(undefined)));
  });

  it('charges a call dialled with the private prefix to the member\'s personal account at its personal tariff, and the CDR says private', async () => {
    const c = await answered('private');
    assert.deepEqual([c.charging, c.accountId, c.calleeE164, c.scope], ['private', personal, '49307770010', 'offnet']);
    assert.equal(c.cost, BigInt(c.billableSeconds) * PERSONAL_OFFNET);
    const account = (await new PrepaidRepository(db).getAccount(personal))!;
    assert.equal(account.balance, parseMoney('5.00') - c.cost, 'the personal account paid exactly the call');
  });

  it('charges the same member\'s call without the prefix to the enterprise (business)', async () => {
    const c = await answered('business');
    assert.deepEqual([c.charging, c.accountId], ['business', ids.accounts.alice]);
    assert.equal(c.cost, BigInt(c.billableSeconds) * PRICE_PER_SECOND.offnet);
  });

  it('connects a group short code to the outside number as a virtual on-net call at the group\'s chosen rate, even for an on-net-only member', async () => {
    const c = await answered('short code');
    assert.deepEqual([c.scope, c.service, c.calleeE164, c.egressTrunk], ['onnet', 'voice.virtual', SUPPLIER, 'carrier']);
    assert.equal(c.cost, BigInt(c.billableSeconds) * VIRTUAL);
  });

  it('bars a CUG member without outgoing access from calling outside, and outsiders from calling a member without incoming access', () => {
    refused('cug outgoing', 'CUG_OUTGOING_BARRED');
    refused('cug incoming', 'CUG_INCOMING_BARRED');
  });

  it('connects calls within a CUG', async () => {
    const c = await answered('cug within');
    assert.equal(c.calleeE164, PEOPLE.office.e164);
  });

  it('lifts an on-net-only member to national by a screening rule on today\'s day type of the rating calendar', async () => {
    const c = await answered('screened');
    assert.deepEqual([c.scope, c.calleeE164], ['offnet', '49307770013']);
  });

  it('notifies the cut-off by a signed webhook, with an idempotency key, and never delays the call', async () => {
    const c = await answered('cut off');
    assert.equal(c.releaseCause, 'credit_exhausted');
    const end = Date.now() + 10_000;
    let hook: { body: string; signature: string; key: string } | undefined;
    while (!(hook = hooks.find((h) => (JSON.parse(h.body) as SpendEvent).callId === c.callId)) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    assert.ok(hook, `a webhook for the cut-off call: ${hooks.map((h) => h.body).join('\n')}`);
    assert.ok(verifyWebhook(WEBHOOK_SECRET, hook.body, hook.signature), 'signed with the configured secret');
    const e = JSON.parse(hook.body) as SpendEvent & { id: string };
    assert.deepEqual([e.kind, e.subject.type, e.subject.id, e.subject.group, e.id], ['cut_off', 'account', ids.accounts.poor, 'acme', hook.key]);
  });

  it('leaves the books exact: every balance equals its ledger, nothing reserved', async () => {
    const books = await checkBooks(db);
    assert.deepEqual(books.problems, []);
    assert.equal(books.openReservations, 0);
  });
});
