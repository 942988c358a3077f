import { formatMoney, MoneyFormatError, parseMoney, type Micros } from '../common/money';
import { PrepaidError } from './errors';
import type { PrepaidStore } from './store';
import {
  ACCOUNT_KINDS, ACCOUNT_STATUSES, type Account, type AccountAudit, type AccountKind, type AccountPatch,
  type AccountStatus, type LedgerEntry, type LedgerKind, type NewAccount,
} from './types';

/** DECIMAL(20, 6) holds 14 whole digits. */
export const MAX_AMOUNT: Micros = 10n ** 20n - 1n;
export const MAX_KEY_LENGTH = 191;
const CODE = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,63}$/;
const CURRENCY = /^[A-Z]{3}$/;

/** Parse an amount typed by a person or sent by a client: exact, at most 6 decimals, else INVALID_AMOUNT. */
export function parseAmount(text: string, what = 'amount'): Micros {
  try {
    const micros = parseMoney(text);
    if (micros > MAX_AMOUNT || micros < -MAX_AMOUNT) throw new PrepaidError('INVALID_AMOUNT', `${what} ${text} is too large`);
    return micros;
  } catch (err) {
    if (err instanceof MoneyFormatError) throw new PrepaidError('INVALID_AMOUNT', `${what}: ${err.message}`, { input: text }, { cause: err });
    throw err;
  }
}

export function validateKey(key: string): string {
  if (typeof key !== 'string' || key.trim() === '' || key.length > MAX_KEY_LENGTH) {
    throw new PrepaidError('INVALID_KEY', `an idempotency key is 1..${MAX_KEY_LENGTH} characters`, { key });
  }
  return key;
}

export function validateNewAccount(input: NewAccount): NewAccount {
  const bad = (message: string): never => { throw new PrepaidError('INVALID_ACCOUNT', message, { code: input.code }); };
  if (!CODE.test(input.code)) bad(`account code ${JSON.stringify(input.code)}: letters, digits and . _ : @ -, at most 64`);
  if (!ACCOUNT_KINDS.includes(input.kind)) bad(`account kind must be one of ${ACCOUNT_KINDS.join(', ')}`);
  if (!CURRENCY.test(input.currency)) bad(`currency ${JSON.stringify(input.currency)}: three capital letters (ISO 4217)`);
  if (input.status !== undefined && !ACCOUNT_STATUSES.includes(input.status)) bad(`status must be one of ${ACCOUNT_STATUSES.join(', ')}`);
  validatePatch(input, input.kind, bad);
  return input;
}

function validatePatch(p: AccountPatch, kind: AccountKind, bad: (m: string) => never): void {
  if (p.status !== undefined && !ACCOUNT_STATUSES.includes(p.status)) bad(`status must be one of ${ACCOUNT_STATUSES.join(', ')}`);
  if (p.creditLimit !== undefined) {
    if (p.creditLimit < 0n || p.creditLimit > MAX_AMOUNT) bad('credit limit must be zero or positive');
    if (kind === 'prepaid' && p.creditLimit !== 0n) bad('a prepaid account has no credit limit');
  }
  if (p.lowBalanceThreshold != null && (p.lowBalanceThreshold < 0n || p.lowBalanceThreshold > MAX_AMOUNT)) bad('low-balance threshold must be zero or positive');
  if (p.maxCalls != null && (!Number.isInteger(p.maxCalls) || p.maxCalls < 1 || p.maxCalls > 1_000_000)) bad('call limit must be a whole number from 1');
  if (p.expiresAt != null && Number.isNaN(p.expiresAt.getTime())) bad('expiry is not a valid date');
}

/** A posting's ledger entry; replay: the key was posted before, this is that entry and nothing changed. */
export type PostedEntry = LedgerEntry & { replay: boolean };

export interface PostOptions {
  note?: string;
  /** When given, must equal the account's currency. */
  currency?: string;
}

/** Accounts and their ledger: create, show, top-up, refund, adjust, list, check. */
export class AccountService {
  constructor(private readonly store: PrepaidStore, private readonly clock: () => Date = () => new Date()) {}

  async create(input: NewAccount): Promise<Account> {
    return this.store.createAccount(validateNewAccount(input), this.clock());
  }

  async update(id: number, patch: AccountPatch): Promise<Account> {
    const account = await this.require(id);
    validatePatch(patch, account.kind, (message) => { throw new PrepaidError('INVALID_ACCOUNT', message, { accountId: id }); });
    return this.store.updateAccount(id, patch, this.clock());
  }

  async require(id: number): Promise<Account> {
    const account = await this.store.getAccount(id);
    if (!account) throw new PrepaidError('UNKNOWN_ACCOUNT', `no account ${id}`, { accountId: id });
    return account;
  }

  /** By numeric id or by code. */
  async resolve(ref: string): Promise<Account> {
    const account = /^\d+$/.test(ref) ? await this.store.getAccount(Number(ref)) : await this.store.findAccountByCode(ref);
    if (!account) throw new PrepaidError('UNKNOWN_ACCOUNT', `no account ${ref}`, { account: ref });
    return account;
  }

  async topup(accountId: number, amount: Micros, key: string, opts: PostOptions = {}): Promise<PostedEntry> {
    if (amount <= 0n) throw new PrepaidError('INVALID_AMOUNT', 'a top-up must be positive', { amount: formatMoney(amount) });
    return this.post(accountId, 'topup', amount, key, opts);
  }

  async refund(accountId: number, amount: Micros, key: string, opts: PostOptions = {}): Promise<PostedEntry> {
    if (amount <= 0n) throw new PrepaidError('INVALID_AMOUNT', 'a refund must be positive', { amount: formatMoney(amount) });
    return this.post(accountId, 'refund', amount, key, opts);
  }

  /** A signed correction; a negative one may not take the available money below zero. */
  async adjust(accountId: number, amount: Micros, key: string, opts: PostOptions = {}): Promise<PostedEntry> {
    if (amount === 0n) throw new PrepaidError('INVALID_AMOUNT', 'an adjustment must not be zero');
    return this.post(accountId, 'adjustment', amount, key, opts);
  }

  /** The status of each account asked for, in one read per 500; an id with no account is left out. */
  statuses(ids: readonly number[]): Promise<Map<number, Account['status']>> {
    return this.store.accountStatuses(ids);
  }

  /** Every account, by id. */
  list(): Promise<Account[]> {
    return this.store.listAccounts();
  }

  async ledger(accountId: number, limit = 50): Promise<LedgerEntry[]> {
    await this.require(accountId);
    return this.store.listEntries(accountId, Math.max(1, Math.min(limit, 10_000)));
  }

  check(): Promise<AccountAudit[]> {
    return this.store.auditAccounts();
  }

  private async post(accountId: number, kind: LedgerKind, amount: Micros, key: string, opts: PostOptions): Promise<PostedEntry> {
    validateKey(key);
    if (amount > MAX_AMOUNT || amount < -MAX_AMOUNT) throw new PrepaidError('INVALID_AMOUNT', 'amount too large');
    const account = await this.require(accountId);
    if (opts.currency !== undefined && opts.currency !== account.currency) {
      throw new PrepaidError('CURRENCY_MISMATCH', `account ${account.code} is in ${account.currency}, not ${opts.currency}`, { accountId });
    }
    const { entry, replay } = await this.store.postEntry({
      accountId, kind, amount, idempotencyKey: key, note: opts.note ?? null, guardAvailable: amount < 0n, at: this.clock(),
    });
    if (replay && (entry.accountId !== accountId || entry.kind !== kind || entry.amount !== amount)) {
      throw new PrepaidError('IDEMPOTENCY_CONFLICT', `key ${key} was used for a different ${entry.kind} of ${formatMoney(entry.amount)} on account ${entry.accountId}`, { key });
    }
    return { ...entry, replay };
  }
}

export function isAccountStatus(s: string): s is AccountStatus {
  return (ACCOUNT_STATUSES as readonly string[]).includes(s);
}
export function isAccountKind(s: string): s is AccountKind {
  return (ACCOUNT_KINDS as readonly string[]).includes(s);
}
