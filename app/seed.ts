import fs from 'node:fs';
import path from 'node:path';
import { AppError } from '../lib/common/errors';
import type { Logger } from '../lib/common/logger';
import { parseMoney } from '../lib/common/money';
import type { Database } from '../lib/db/database';
import { PrepaidRepository } from '../lib/db/prepaid-repository';
import { RatingRepository } from '../lib/db/rating-repository';
import { VpnRepository } from '../lib/db/vpn-repository';
import { AccountService } from '../lib/prepaid';
import { parseTableCsv } from '../lib/rating/csv';
import { RATING_TABLE_NAMES, emptyTables } from '../lib/rating/tables';
import type { TollgateConfig } from './config/schema';

/** The example rating tables shipped with the sources (lib/rating/examples/*.csv). */
export function exampleTariffDir(): string {
  for (const dir of [path.resolve(__dirname, '../lib/rating/examples'), path.resolve(__dirname, '../../lib/rating/examples')]) {
    if (fs.existsSync(path.join(dir, 'tariffs.csv'))) return dir;
  }
  throw new AppError('SEED_MISSING', 'lib/rating/examples not found');
}

/**
 * Demo data that makes the embedded default callable at once (see README, "Demo data"):
 * group ACME (extensions 201–204, off-net prefix 9), prepaid and postpaid accounts, a public
 * subscriber, the loopback PBX trunk and a carrier trunk, routes, and the example tariffs
 * (on-net cheaper than off-net, peak and off-peak, holidays).
 */
export async function seedDemoData(db: Database, config: Pick<TollgateConfig, 'numbering'>, logger: Logger): Promise<void> {
  const rating = new RatingRepository(db);
  const tables = emptyTables();
  const dir = exampleTariffDir();
  for (const name of RATING_TABLE_NAMES) tables[name] = parseTableCsv(name, fs.readFileSync(path.join(dir, `${name}.csv`), 'utf8'));
  await rating.replaceTables(tables);

  const accounts = new AccountService(new PrepaidRepository(db), () => new Date());
  const account = async (code: string, kind: 'prepaid' | 'postpaid', money: string, extra: { creditLimit?: string; maxCalls?: number } = {}) => {
    const a = await accounts.create({
      code, kind, currency: 'EUR', maxCalls: extra.maxCalls ?? 10,
      creditLimit: extra.creditLimit ? parseMoney(extra.creditLimit) : undefined,
      lowBalanceThreshold: kind === 'prepaid' ? parseMoney('1.00') : null,
    });
    if (money !== '0') await accounts.topup(a.id, parseMoney(money), `seed:${code}:topup`, { note: 'demo data' });
    return a.id;
  };
  const alice = await account('acme-alice', 'prepaid', '10.00');
  const bob = await account('acme-bob', 'prepaid', '0.50');
  const office = await account('acme-office', 'postpaid', '0', { creditLimit: '500.00' });
  const dora = await account('dora-public', 'prepaid', '5.00');
  const broke = await account('acme-broke', 'prepaid', '0');

  const vpn = new VpnRepository(db);
  await vpn.changeValidated({ ...config.numbering }, async (repo) => {
    await repo.addTrunk({ name: 'pbx-loopback', addresses: ['127.0.0.0/8', '::1'], host: '127.0.0.1', port: 5080, transport: 'udp', paiTrusted: true, servesMembers: true });
    await repo.addTrunk({ name: 'carrier', addresses: ['192.0.2.10'], host: '127.0.0.1', port: 5090, transport: 'udp', paiTrusted: false });
    await repo.addRoute({ prefix: '', trunkName: 'carrier', priority: 10, description: 'everything else to the carrier' });
    await repo.addRoute({ prefix: '4930', trunkName: 'carrier', priority: 10, description: 'Berlin' });
    const sub = (e164: string, accountId: number, plan: string, displayName: string) =>
      repo.addSubscriber({ e164, accountId, plan, homeTrunk: 'pbx-loopback', displayName });
    await sub('4930100201', alice, 'standard', 'Alice');
    await sub('4930100202', bob, 'standard', 'Bob');
    await sub('4930100203', office, 'business', 'Reception');
    await sub('4930100204', broke, 'standard', 'Eve');
    await sub('4930555000', dora, 'standard', 'Dora');
    await repo.addGroup({ code: 'acme', name: 'ACME Ltd', offnetPrefix: '9', extensionLength: 3 });
    await repo.addMember({ groupCode: 'acme', e164: '4930100201', extension: '201', callClass: 'international' });
    await repo.addMember({ groupCode: 'acme', e164: '4930100202', extension: '202', callClass: 'national' });
    await repo.addMember({ groupCode: 'acme', e164: '4930100203', extension: '203', callClass: 'international' });
    await repo.addMember({ groupCode: 'acme', e164: '4930100204', extension: '204', callClass: 'onnet_only' });
  });
  logger.info('demo data seeded', { accounts: 5, members: 4, trunks: 2 });
}
