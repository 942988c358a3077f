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
import { validateRuleSet } from '../lib/rating';
import { formatProblems } from '../lib/rating/reloader';
import { RATING_TABLE_NAMES, emptyTables, rowsToRawRuleSet, type RatingTableRows } from '../lib/rating/tables';
import type { TollgateConfig } from './config/schema';

/** The example rating tables shipped with the sources (lib/rating/examples/*.csv). */
export function exampleTariffDir(): string {
  for (const dir of [path.resolve(__dirname, '../lib/rating/examples'), path.resolve(__dirname, '../../lib/rating/examples')]) {
    if (fs.existsSync(path.join(dir, 'tariffs.csv'))) return dir;
  }
  throw new AppError('SEED_MISSING', 'lib/rating/examples not found');
}

export interface SeedOptions {
  /** Into a database that already holds data: add only the demo rows that are missing. */
  force?: boolean;
}

export interface SeedReport {
  /** What was written, e.g. "account acme-alice", "rating tables". */
  added: string[];
  /** Demo rows left alone because a row of that name already exists (only with force). */
  kept: string[];
}

interface DemoAccount { code: string; kind: 'prepaid' | 'postpaid'; money: string; creditLimit?: string }
const ACCOUNTS: DemoAccount[] = [
  { code: 'acme-alice', kind: 'prepaid', money: '10.00' },
  { code: 'acme-bob', kind: 'prepaid', money: '0.50' },
  { code: 'acme-office', kind: 'postpaid', money: '0', creditLimit: '500.00' },
  { code: 'dora-public', kind: 'prepaid', money: '5.00' },
  { code: 'acme-broke', kind: 'prepaid', money: '0' },
];
const TRUNKS = [
  // The PBX side: its callers are members, identified by PAI (trusted) or From.
  { name: 'pbx-loopback', addresses: ['127.0.0.0/8', '::1'], host: '127.0.0.1', port: 5080, transport: 'udp' as const, paiTrusted: true, servesMembers: true },
  // The carrier's callers are public, whatever their From says.
  { name: 'carrier', addresses: ['192.0.2.10'], host: '127.0.0.1', port: 5090, transport: 'udp' as const, paiTrusted: false, servesMembers: false },
];
const ROUTES = [
  { prefix: '', trunkName: 'carrier', priority: 10, description: 'everything else to the carrier' },
  { prefix: '4930', trunkName: 'carrier', priority: 10, description: 'Berlin' },
];
const SUBSCRIBERS = [
  { e164: '4930100201', account: 'acme-alice', plan: 'standard', displayName: 'Alice' },
  { e164: '4930100202', account: 'acme-bob', plan: 'standard', displayName: 'Bob' },
  { e164: '4930100203', account: 'acme-office', plan: 'business', displayName: 'Reception' },
  { e164: '4930100204', account: 'acme-broke', plan: 'standard', displayName: 'Eve' },
  { e164: '4930555000', account: 'dora-public', plan: 'standard', displayName: 'Dora' },
];
const GROUP = { code: 'acme', name: 'ACME Ltd', offnetPrefix: '9', extensionLength: 3 };
const MEMBERS = [
  { e164: '4930100201', extension: '201', callClass: 'international' as const },
  { e164: '4930100202', extension: '202', callClass: 'national' as const },
  { e164: '4930100203', extension: '203', callClass: 'international' as const },
  { e164: '4930100204', extension: '204', callClass: 'onnet_only' as const },
];

/** The example tariffs, parsed and validated before anything is written. */
function exampleTables(timeZone: string): RatingTableRows {
  const tables = emptyTables();
  const dir = exampleTariffDir();
  for (const name of RATING_TABLE_NAMES) tables[name] = parseTableCsv(name, fs.readFileSync(path.join(dir, `${name}.csv`), 'utf8'));
  const checked = validateRuleSet(rowsToRawRuleSet(tables, timeZone));
  if (!checked.ok) throw new AppError('SEED_INVALID', `the example tariffs are invalid: ${formatProblems(checked.problems).join('; ')}`);
  return tables;
}

/**
 * Demo data that makes the embedded default callable at once (see README, "Demo data"):
 * group ACME (extensions 201–204, off-net prefix 9), prepaid and postpaid accounts, a public
 * subscriber, the loopback PBX trunk and a carrier trunk, routes, and the example tariffs
 * (on-net cheaper than off-net, peak and off-peak, holidays).
 *
 * Everything is read and checked before the first write. A database that holds any account,
 * trunk, route, subscriber, group or rating row is refused (SEED_NOT_EMPTY) and left unchanged.
 * With force, only missing rows are added (by account code, trunk name, route prefix and trunk,
 * number, group code, group and extension; the rating tables only when they are all empty);
 * nothing that exists is changed, so an admin's edits survive and a seed cut short is completed.
 */
export async function seedDemoData(
  db: Database, config: Pick<TollgateConfig, 'numbering'> & { rating?: { timeZone: string } }, logger: Logger, opts: SeedOptions = {},
): Promise<SeedReport> {
  const ratingRepo = new RatingRepository(db);
  const prepaid = new PrepaidRepository(db);
  const vpnRepo = new VpnRepository(db);
  const tables = exampleTables(config.rating?.timeZone ?? 'UTC');

  const ratingRows = Object.values(await ratingRepo.countRows()).reduce((a, b) => a + b, 0);
  const accounts = new Map((await prepaid.listAccounts()).map((a) => [a.code, a.id]));
  const trunks = new Set((await vpnRepo.listTrunks()).map((t) => t.name));
  const routes = new Set((await vpnRepo.listRoutes()).map((r) => `${r.prefix}\u0000${r.trunkName}`));
  const subscribers = new Set((await vpnRepo.listSubscribers()).map((s) => s.e164));
  const groups = new Set((await vpnRepo.listGroups()).map((g) => g.code));
  const members = new Set((await vpnRepo.listMembers()).map((m) => `${m.groupCode}\u0000${m.extension}`));
  const held = [
    [ratingRows, 'rating row(s)'], [accounts.size, 'account(s)'], [trunks.size, 'trunk(s)'], [routes.size, 'route(s)'],
    [subscribers.size, 'subscriber(s)'], [groups.size, 'VPN group(s)'],
  ].filter(([n]) => Number(n) > 0).map(([n, what]) => `${String(n)} ${String(what)}`);
  if (held.length > 0 && !opts.force) {
    throw new AppError('SEED_NOT_EMPTY', `the database is not empty (${held.join(', ')}); nothing was written. Demo data goes only into an empty database; --force adds just the demo rows that are missing and changes none that exist`, { held });
  }

  const report: SeedReport = { added: [], kept: [] };
  const note = (added: boolean, what: string): boolean => { (added ? report.added : report.kept).push(what); return added; };

  if (note(ratingRows === 0, 'rating tables')) await ratingRepo.replaceTables(tables);

  const service = new AccountService(prepaid, () => new Date());
  for (const a of ACCOUNTS) {
    if (!note(!accounts.has(a.code), `account ${a.code}`)) continue;
    const created = await service.create({
      code: a.code, kind: a.kind, currency: 'EUR', maxCalls: 10,
      creditLimit: a.creditLimit ? parseMoney(a.creditLimit) : undefined,
      lowBalanceThreshold: a.kind === 'prepaid' ? parseMoney('1.00') : null,
    });
    accounts.set(a.code, created.id);
    // Keyed: a seed cut short between the account and its money is completed, never paid twice.
    if (a.money !== '0') await service.topup(created.id, parseMoney(a.money), `seed:${a.code}:topup`, { note: 'demo data' });
  }

  await vpnRepo.changeValidated({ ...config.numbering }, async (repo) => {
    for (const t of TRUNKS) if (note(!trunks.has(t.name), `trunk ${t.name}`)) await repo.addTrunk(t);
    for (const r of ROUTES) {
      if (note(!routes.has(`${r.prefix}\u0000${r.trunkName}`), `route "${r.prefix}" to ${r.trunkName}`)) await repo.addRoute(r);
    }
    for (const s of SUBSCRIBERS) {
      if (!note(!subscribers.has(s.e164), `subscriber ${s.e164}`)) continue;
      await repo.addSubscriber({ e164: s.e164, accountId: accounts.get(s.account)!, plan: s.plan, homeTrunk: 'pbx-loopback', displayName: s.displayName });
    }
    if (note(!groups.has(GROUP.code), `group ${GROUP.code}`)) await repo.addGroup(GROUP);
    for (const m of MEMBERS) {
      if (note(!members.has(`${GROUP.code}\u0000${m.extension}`), `member ${GROUP.code} ${m.extension}`)) await repo.addMember({ groupCode: GROUP.code, ...m });
    }
  });
  logger.info('demo data seeded', { added: report.added.length, kept: report.kept.length });
  return report;
}
