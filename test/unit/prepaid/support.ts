import { parseMoney } from '../../../lib/common/money';
import {
  CreditControl, DEFAULT_CREDIT_CONTROL_OPTIONS, MemoryPrepaidStore, MemorySettlementJournal,
  type Account, type CreditControlDeps, type CreditControlOptions, type NewAccount, type PrepaidStore, type SettlementJournal,
} from '../../../lib/prepaid';

/** What a test may add to an instance's dependencies (the SIP server's orphan ends, a repricer, a CDR sink). */
export type ExtraDeps = Pick<CreditControlDeps, 'orphanEnds' | 'repricer' | 'onRecovered'>;

export interface Bench {
  store: MemoryPrepaidStore;
  journal: MemorySettlementJournal;
  cc: CreditControl;
  clock: { now: Date };
  account(balance: string, extra?: Partial<NewAccount>): Promise<Account>;
  instance(instanceId: string, opts?: Partial<CreditControlOptions>, journal?: SettlementJournal, deps?: ExtraDeps): CreditControl;
}

let codes = 0;

export function bench(opts: Partial<CreditControlOptions> = {}): Bench {
  const store = new MemoryPrepaidStore();
  const journal = new MemorySettlementJournal();
  const clock = { now: new Date('2026-03-02T10:00:00Z') };
  const instance = (instanceId: string, o: Partial<CreditControlOptions> = {}, j: SettlementJournal = new MemorySettlementJournal(), d: ExtraDeps = {}) =>
    new CreditControl({ store, journal: j, clock: () => clock.now, ...d }, { ...DEFAULT_CREDIT_CONTROL_OPTIONS, instanceId, ...opts, ...o });
  const cc = instance('instance-a', {}, journal);
  return {
    store, journal, cc, clock, instance,
    account: (balance, extra) => openAccount(store, balance, extra),
  };
}

export async function openAccount(store: PrepaidStore, balance: string, extra: Partial<NewAccount> = {}): Promise<Account> {
  const at = new Date('2026-03-01T00:00:00Z');
  const a = await store.createAccount({ code: `acct-${++codes}-${Date.now().toString(36)}`, kind: 'prepaid', currency: 'EUR', ...extra }, at);
  const amount = parseMoney(balance);
  if (amount !== 0n) await store.postEntry({ accountId: a.id, kind: 'topup', amount, idempotencyKey: `opening:${a.code}`, guardAvailable: false, at });
  return (await store.getAccount(a.id))!;
}
