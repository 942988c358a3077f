/**
 * A bigger world for the load benchmark, written straight into the database before Tollgate
 * starts: flat per-second tariffs (results do not depend on the hour), one VPN group `load` with
 * many members on 4-digit extensions (1000…) and off-net prefix 9, some of them postpaid, plus
 * public (non-member) prepaid callers, accounts with enough money for a long run, and two trunks:
 * `pbx` (source 127.0.0.1, the callers' home and the on-net callees' far end) and `carrier` (every
 * off-net and public destination).
 *
 * The caller CSV (SIPp `-inf`, field0 = calling number, field1 = dialled digits) is derived from
 * the same deterministic numbering, so `loadCallerCsv()` always matches `seedLoadWorld()` with the
 * same sizes; scenarios/callers-mix.csv is `loadCallerCsv()` with the default sizes.
 */
import { parseMoney } from '../../lib/common/money';
import type { Database } from '../../lib/db/database';
import { PrepaidRepository } from '../../lib/db/prepaid-repository';
import { VpnRepository } from '../../lib/db/vpn-repository';
import { AccountService } from '../../lib/prepaid';
import { seedFlatTariffs } from './call-fixture';
import { prng } from './random';

export const LOAD_NUMBERING = { countryCode: '49', nationalPrefix: '0', internationalPrefix: '00', areaCodeLength: 2, minNationalDigits: 4 };

/** Per-second prices (micro-units) of the load tariffs. */
export { PRICE_PER_SECOND as LOAD_PRICE_PER_SECOND } from './call-fixture';

export interface LoadWorldSize {
  /** VPN members (extensions 1000, 1001, …). */
  members: number;
  /** Every n-th member is on a postpaid account (0: none). */
  postpaidEvery: number;
  /** Prepaid callers outside any group (public calls). */
  publicCallers: number;
  /** Rows of the caller CSV. */
  rows: number;
}

export const DEFAULT_LOAD_SIZE: LoadWorldSize = { members: 400, postpaidEvery: 5, publicCallers: 100, rows: 5000 };

/** Money of each prepaid account and credit limit of each postpaid one. */
export const LOAD_BALANCE = '1000.00';

export interface LoadTrunks {
  pbx: { port: number; transport: 'udp' | 'tcp' };
  carrier: { port: number; transport: 'udp' | 'tcp' };
}

export type CallKind = 'onnet' | 'offnet' | 'public';

export interface CallerRow { caller: string; dialled: string; kind: CallKind; postpaid: boolean }

export const memberE164 = (i: number): string => `493020${1000 + i}`;
export const memberExtension = (i: number): string => String(1000 + i);
export const publicE164 = (i: number): string => `4940555${String(i).padStart(4, '0')}`;
const isPostpaid = (size: LoadWorldSize, i: number): boolean => size.postpaidEvery > 0 && i % size.postpaidEvery === size.postpaidEvery - 1;


/**
 * The call mix: 50 % on-net extension calls between members, 30 % off-net calls of members
 * through prefix 9, 20 % public calls of non-members; callers drawn evenly, so about one member
 * call in `postpaidEvery` is postpaid. Off-net and public destinations are Munich numbers (089…),
 * routed to the carrier.
 */
export function loadCallerRows(size: LoadWorldSize = DEFAULT_LOAD_SIZE, seed = 7): CallerRow[] {
  const rnd = prng(seed);
  const pick = (n: number) => Math.floor(rnd() * n);
  const rows: CallerRow[] = [];
  for (let r = 0; r < size.rows; r++) {
    const x = rnd();
    const dest = `089${String(1_000_000 + pick(8_999_999))}`;
    if (x < 0.2 && size.publicCallers > 0) {
      rows.push({ caller: publicE164(pick(size.publicCallers)), dialled: dest, kind: 'public', postpaid: false });
      continue;
    }
    const m = pick(size.members);
    if (x < 0.7) {
      let callee = pick(size.members - 1);
      if (callee >= m) callee += 1;
      rows.push({ caller: memberE164(m), dialled: memberExtension(callee), kind: 'onnet', postpaid: isPostpaid(size, m) });
    } else {
      rows.push({ caller: memberE164(m), dialled: `9${dest}`, kind: 'offnet', postpaid: isPostpaid(size, m) });
    }
  }
  return rows;
}

/** SIPp injection file: `SEQUENTIAL`, then `caller;dialled;` per row. */
export function loadCallerCsv(size: LoadWorldSize = DEFAULT_LOAD_SIZE, seed = 7): string {
  return `SEQUENTIAL\n${loadCallerRows(size, seed).map((r) => `${r.caller};${r.dialled};`).join('\n')}\n`;
}

export interface LoadWorld { prepaidAccounts: number; postpaidAccounts: number; members: number; publicCallers: number }

export async function seedLoadWorld(db: Database, trunks: LoadTrunks, size: LoadWorldSize = DEFAULT_LOAD_SIZE): Promise<LoadWorld> {
  if (size.members < 2) throw new Error('the load world needs at least two members');
  await seedFlatTariffs(db);

  const accounts = new AccountService(new PrepaidRepository(db), () => new Date());
  const money = parseMoney(LOAD_BALANCE);
  const open = async (code: string, postpaid: boolean): Promise<number> => {
    const a = await accounts.create({ code, kind: postpaid ? 'postpaid' : 'prepaid', currency: 'EUR', maxCalls: 10_000, creditLimit: postpaid ? money : undefined });
    if (!postpaid) await accounts.topup(a.id, money, `load:${code}`);
    return a.id;
  };
  const memberAccounts: number[] = [];
  const publicAccounts: number[] = [];
  // Bounded concurrency: a few writers at a time keep the seeding quick without a lock storm.
  const batch = async (n: number, fn: (i: number) => Promise<number>, into: number[]) => {
    for (let i = 0; i < n; i += 16) {
      const ids = await Promise.all(Array.from({ length: Math.min(16, n - i) }, (_, k) => fn(i + k)));
      into.push(...ids);
    }
  };
  await batch(size.members, (i) => open(`load-m${i}`, isPostpaid(size, i)), memberAccounts);
  await batch(size.publicCallers, (i) => open(`load-p${i}`, false), publicAccounts);

  await new VpnRepository(db).changeValidated(LOAD_NUMBERING, async (repo) => {
    await repo.addTrunk({ name: 'pbx', addresses: ['127.0.0.1'], host: '127.0.0.1', port: trunks.pbx.port, transport: trunks.pbx.transport, paiTrusted: true, servesMembers: true });
    await repo.addTrunk({ name: 'carrier', addresses: ['192.0.2.1'], host: '127.0.0.1', port: trunks.carrier.port, transport: trunks.carrier.transport });
    await repo.addRoute({ prefix: '', trunkName: 'carrier', priority: 1 });
    await repo.addGroup({ code: 'load', name: 'Load test group', offnetPrefix: '9', extensionLength: 4 });
    for (let i = 0; i < size.members; i++) {
      await repo.addSubscriber({ e164: memberE164(i), accountId: memberAccounts[i]!, plan: 'standard', homeTrunk: 'pbx', displayName: `member ${i}` });
      await repo.addMember({ groupCode: 'load', e164: memberE164(i), extension: memberExtension(i), callClass: 'international' });
    }
    for (let i = 0; i < size.publicCallers; i++) {
      await repo.addSubscriber({ e164: publicE164(i), accountId: publicAccounts[i]!, plan: 'standard', homeTrunk: 'pbx', displayName: `public ${i}` });
    }
  });
  const postpaid = size.postpaidEvery > 0 ? Math.floor(size.members / size.postpaidEvery) : 0;
  return { prepaidAccounts: size.members - postpaid + size.publicCallers, postpaidAccounts: postpaid, members: size.members, publicCallers: size.publicCallers };
}
