import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDatabaseUrl, type Database } from '../../lib/db/database';
import { PrepaidRepository } from '../../lib/db/prepaid-repository';
import { parseMoney } from '../../lib/common/money';
import {
  CreditControl, DEFAULT_CREDIT_CONTROL_OPTIONS, MemorySettlementJournal, type Account, type CreditControlOptions,
  type NewAccount, type SettlementJournal,
} from '../../lib/prepaid';
import { testDatabaseUrl } from '../support/mariadb';

export type Backend = 'mariadb' | 'sqlite';

export interface PrepaidDb {
  db: Database;
  repo: PrepaidRepository;
  close(): Promise<void>;
}

/** A fresh, migrated database of the given kind. */
export async function openPrepaidDb(backend: Backend): Promise<PrepaidDb> {
  let dir: string | undefined;
  let url: string;
  if (backend === 'mariadb') {
    url = await testDatabaseUrl('prepaid');
  } else {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tg-prepaid-'));
    url = `sqlite:${path.join(dir, 'tollgate.sqlite')}`;
  }
  const db = await openDatabaseUrl(url);
  await db.migrate();
  return {
    db, repo: new PrepaidRepository(db),
    close: async () => {
      await db.close();
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function creditControl(
  repo: PrepaidRepository, instanceId: string, opts: Partial<CreditControlOptions> = {},
  deps: { journal?: SettlementJournal; clock?: () => Date } = {},
): CreditControl {
  return new CreditControl(
    { store: repo, journal: deps.journal ?? new MemorySettlementJournal(), clock: deps.clock },
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
