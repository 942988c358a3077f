import { parseMoney, type Micros } from '../../lib/common/money';
import type { CallPricer } from '../../lib/prepaid/types';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDatabaseUrl, type Database } from '../../lib/db/database';
import { PrepaidRepository } from '../../lib/db/prepaid-repository';
import { testDatabaseUrl } from './mariadb';
import {
  CreditControl, DEFAULT_CREDIT_CONTROL_OPTIONS, MemorySettlementJournal, type Account, type CreditControlDeps,
  type CreditControlOptions, type NewAccount, type SettlementJournal,
} from '../../lib/prepaid';
import { prng } from './random';
export { prng };

export interface FixedTariff {
  currency?: string;
  /** Charged once when billable seconds > 0. */
  connectFee?: string;
  /** Seconds per billing increment. */
  increment?: number;
  /** Price of one increment. */
  pricePerIncrement: string;
  /** The first billing step: shorter calls are billed as this long. Default: one increment. */
  firstStepSeconds?: number;
}

/**
 * A tiny tariff for prepaid tests: connect fee + whole increments, the first step billed whole.
 * price(s) = fee + ceil(max(s, first) / increment) * perIncrement for s > 0; price(0) = 0.
 */
export function fixedTariff(t: FixedTariff): CallPricer {
  const fee: Micros = parseMoney(t.connectFee ?? '0');
  const per: Micros = parseMoney(t.pricePerIncrement);
  const inc = t.increment ?? 1;
  const first = t.firstStepSeconds ?? inc;
  if (per <= 0n || inc < 1 || first < 1) throw new RangeError('fixed tariff needs a positive price and increment');
  const price = (seconds: number): bigint => {
    if (seconds <= 0) return 0n;
    const billed = Math.max(seconds, first);
    return fee + BigInt(Math.ceil(billed / inc)) * per;
  };
  return {
    currency: t.currency ?? 'EUR',
    firstStepSeconds: first,
    price,
    maxSeconds(money: bigint): number {
      if (money < price(first)) return 0;
      return Number((money - fee) / per) * inc;
    },
  };
}

/** 0.01 per second, first step 60 s billed whole: 300 s cost 3.00. */
export const perSecond = (currency = 'EUR'): CallPricer => fixedTariff({ currency, pricePerIncrement: '0.01', firstStepSeconds: 60 });

/** Connect fee 0.05, then 0.0150 per started 10 s (a price with awkward decimals). */
export const tenSecondSteps = (currency = 'EUR'): CallPricer => fixedTariff({ currency, connectFee: '0.05', increment: 10, pricePerIncrement: '0.0150' });


// ------------------------------------------------------------ integration: a migrated database
/** 'mysql-path': MariaDB driven as MySQL 8 must be (no INSERT ... RETURNING: the procedures instead). */
export type Backend = 'mariadb' | 'mysql-path' | 'sqlite';

export interface PrepaidDb {
  db: Database;
  /** Where it is, to open another connection to it. */
  url: string;
  repo: PrepaidRepository;
  close(): Promise<void>;
}

/** A fresh, migrated database of the given kind. */
export async function openPrepaidDb(backend: Backend): Promise<PrepaidDb> {
  let dir: string | undefined;
  let url: string;
  if (backend !== 'sqlite') {
    url = await testDatabaseUrl('prepaid');
  } else {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tg-prepaid-'));
    url = `sqlite:${path.join(dir, 'tollgate.sqlite')}`;
  }
  const db = await openDatabaseUrl(url);
  await db.migrate();
  return {
    db, url, repo: new PrepaidRepository(db, db.logger, backend === 'mysql-path' ? { returning: false } : {}),
    close: async () => {
      await db.close();
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function creditControl(
  repo: PrepaidRepository, instanceId: string, opts: Partial<CreditControlOptions> = {},
  deps: { journal?: SettlementJournal; clock?: () => Date } & Pick<CreditControlDeps, 'orphanEnds' | 'repricer' | 'onRecovered'> = {},
): CreditControl {
  return new CreditControl(
    { ...deps, store: repo, journal: deps.journal ?? new MemorySettlementJournal(), clock: deps.clock },
    { ...DEFAULT_CREDIT_CONTROL_OPTIONS, instanceId, ...opts },
  );
}

let n = 0;
export async function fundedAccount(cc: CreditControl, balance: string, extra: Partial<NewAccount> = {}): Promise<Account> {
  const a = await cc.accounts.create({ code: `t${process.pid}-${Date.now().toString(36)}-${++n}`, kind: 'prepaid', currency: 'EUR', ...extra });
  const amount = parseMoney(balance);
  if (amount > 0n) await cc.topup(a.id, amount, `opening:${a.code}`);
  return cc.accounts.require(a.id);
}
