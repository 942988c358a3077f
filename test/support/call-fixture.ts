/**
 * A small world for call-flow tests, written straight into the database before Tollgate starts:
 * flat per-second tariffs (no time bands, so results do not depend on the hour), VPN group acme
 * (extensions of 3 digits, off-net prefix 9), prepaid and postpaid accounts, and one trunk per
 * far-end behaviour, each pointing at a SIPp far end on loopback.
 */
import { parseMoney } from '../../lib/common/money';
import type { Database } from '../../lib/db/database';
import { PrepaidRepository } from '../../lib/db/prepaid-repository';
import { RatingRepository } from '../../lib/db/rating-repository';
import { VpnRepository } from '../../lib/db/vpn-repository';
import { AccountService } from '../../lib/prepaid';
import { parseTableCsv } from '../../lib/rating/csv';
import { emptyTables } from '../../lib/rating/tables';

export const NUMBERING = { countryCode: '49', nationalPrefix: '0', internationalPrefix: '00', areaCodeLength: 2, minNationalDigits: 4 };

/** Per-second prices (micro-units) of the test tariffs. */
export const PRICE_PER_SECOND = { onnet: 1000n, offnet: 2000n, public: 3000n } as const;

export type FarEnd = 'answer' | 'busy' | 'failing' | 'silent' | 'timing' | 'hangup' | 'vanish';

/** Destination prefixes (E.164) routed to each far end; on-net calls go to the callee's home trunk (answer). */
export const PREFIX_OF: Record<Exclude<FarEnd, 'answer'>, string> = {
  busy: '4989', failing: '4940', silent: '4969', timing: '4921', hangup: '4971', vanish: '4922',
};

export const PEOPLE = {
  alice: { e164: '4930100201', ext: '201' },
  bob: { e164: '4930100202', ext: '202' },
  office: { e164: '4930100203', ext: '203' },
  onnetOnly: { e164: '4930100204', ext: '204' },
  poor: { e164: '4930100205', ext: '205' },
  broke: { e164: '4930100206', ext: '206' },
  dora: { e164: '4930555000' },
} as const;

/** Money of the poor member: exactly 4 s of off-net time. */
export const POOR_BALANCE = '0.008000';

/** Flat per-second tariffs (on-net 0.001, off-net 0.002, public 0.003 EUR/s), no time bands: results do not depend on the hour. */
export async function seedFlatTariffs(db: Database): Promise<void> {
  const tables = emptyTables();
  tables.services = parseTableCsv('services', 'id,code,name\n1,voice.onnet,On-net\n2,voice.offnet,Off-net\n3,voice.public,Public\n');
  tables.day_types = parseTableCsv('day_types', 'id,code,name,weekdays\n1,weekday,Weekdays,"mon,tue,wed,thu,fri"\n2,weekend,Weekends,"sat,sun"\n');
  tables.tariffs = parseTableCsv('tariffs', 'id,code,name,currency,connect_fee,minimum_charge,free_seconds,time_zone\n'
    + '1,ONNET,On-net,EUR,0,0,0,\n2,OFFNET,Off-net,EUR,0,0,0,\n3,PUBLIC,Public,EUR,0,0,0,\n');
  tables.tariff_steps = parseTableCsv('tariff_steps', 'id,tariff_id,from_second,increment_seconds,price_per_increment\n'
    + '1,1,0,1,0.001000\n2,2,0,1,0.002000\n3,3,0,1,0.003000\n');
  tables.charging_rules = parseTableCsv('charging_rules', 'id,service_id,caller_plan,vpn_group,destination_prefix,day_type_id,time_from,time_to,valid_from,valid_to,priority,tariff_id,description\n'
    + '1,1,,,,,,,,,0,1,on-net\n2,2,,,,,,,,,0,2,off-net\n3,3,,,,,,,,,0,3,public\n');
  await new RatingRepository(db, 'UTC').replaceTables(tables);
}

/** Every far-end trunk pointing at one SIPp far end (tests that need only one behaviour). */
export function allFarEndsAt(port: number): Record<FarEnd, number> {
  return { answer: port, busy: port, failing: port, silent: port, timing: port, hangup: port, vanish: port };
}

export interface FixtureIds { accounts: Record<keyof typeof PEOPLE, number> }

export async function seedCallWorld(db: Database, farEnds: Record<FarEnd, number>, transport: 'udp' | 'tcp'): Promise<FixtureIds> {
  await seedFlatTariffs(db);

  const accounts = new AccountService(new PrepaidRepository(db), () => new Date());
  const ids = {} as Record<keyof typeof PEOPLE, number>;
  const open = async (who: keyof typeof PEOPLE, kind: 'prepaid' | 'postpaid', money: string, creditLimit?: string) => {
    const a = await accounts.create({ code: `acct-${who}`, kind, currency: 'EUR', maxCalls: 50, creditLimit: creditLimit ? parseMoney(creditLimit) : undefined });
    if (money !== '0') await accounts.topup(a.id, parseMoney(money), `fixture:${who}`);
    ids[who] = a.id;
  };
  await open('alice', 'prepaid', '10.00');
  await open('bob', 'prepaid', '10.00');
  await open('office', 'postpaid', '0', '100.00');
  await open('onnetOnly', 'prepaid', '10.00');
  await open('poor', 'prepaid', POOR_BALANCE);
  await open('broke', 'prepaid', '0');
  await open('dora', 'prepaid', '10.00');

  await new VpnRepository(db).changeValidated(NUMBERING, async (repo) => {
    const trunk = (name: string, port: number, addresses: string[]) => repo.addTrunk({ name, addresses, host: '127.0.0.1', port, transport, paiTrusted: name === 'pbx', servesMembers: name === 'pbx' });
    await trunk('pbx', farEnds.answer, ['127.0.0.1']);
    await trunk('carrier', farEnds.answer, ['192.0.2.1']);
    for (const [end, prefix] of Object.entries(PREFIX_OF) as Array<[Exclude<FarEnd, 'answer'>, string]>) {
      await trunk(end, farEnds[end], [`192.0.2.${10 + Object.keys(PREFIX_OF).indexOf(end)}`]);
      await repo.addRoute({ prefix, trunkName: end, priority: 1 });
    }
    await repo.addRoute({ prefix: '', trunkName: 'carrier', priority: 1 });
    await repo.addRoute({ prefix: PREFIX_OF.failing, trunkName: 'carrier', priority: 2 });
    for (const who of Object.keys(PEOPLE) as Array<keyof typeof PEOPLE>) {
      await repo.addSubscriber({ e164: PEOPLE[who].e164, accountId: ids[who], plan: 'standard', homeTrunk: 'pbx', displayName: who });
    }
    await repo.addGroup({ code: 'acme', name: 'ACME', offnetPrefix: '9', extensionLength: 3 });
    const member = (who: keyof typeof PEOPLE, callClass: 'onnet_only' | 'national' | 'international') =>
      repo.addMember({ groupCode: 'acme', e164: PEOPLE[who].e164, extension: (PEOPLE[who] as { ext: string }).ext, callClass });
    await member('alice', 'international');
    await member('bob', 'national');
    await member('office', 'international');
    await member('onnetOnly', 'onnet_only');
    await member('poor', 'international');
    await member('broke', 'international');
  });
  return { accounts: ids };
}
