import type { Command } from 'commander';
import { AppError } from '../../lib/common/errors';
import { formatMoney } from '../../lib/common/money';
import { PrepaidRepository } from '../../lib/db/prepaid-repository';
import type { Micros } from '../../lib/common/money';
import {
  AccountService, parseAmount, type Account, type AccountAudit, type AccountPatch, type LedgerEntry, type NewAccount,
} from '../../lib/prepaid';
import { checkInput } from '../admin/input';
import * as S from '../admin/schemas';
import type { CliContext } from './context';
import { formatTable, toJson, type Column } from './output';

/** The command line's names of the admin API's body fields, for messages. */
const FIELD_NAMES = {
  code: '<code>', kind: '--kind', currency: '--currency', status: '--status', creditLimit: '--credit-limit',
  lowBalanceThreshold: '--low-balance', maxCalls: '--max-calls', expiresAt: '--expires', amount: '<amount>', key: '--key', note: '--note', limit: '--limit',
};
const money = (text: string, field: string): Micros => parseAmount(text, field === 'amount' ? undefined : FIELD_NAMES[field as keyof typeof FIELD_NAMES]);

/** `tollgate account create|list|show|set|topup|adjust|ledger|check`; every account is named by id or code. */
export function registerAccountCommands(program: Command, ctx: CliContext): void {
  const withAccounts = <T>(fn: (svc: AccountService) => Promise<T>): Promise<T> =>
    ctx.withDatabase((db) => fn(new AccountService(new PrepaidRepository(db))));
  const out = (json: boolean | undefined, value: unknown, text: () => string): void => {
    ctx.print(json ? toJson(value, formatMoney) : text());
  };

  const account = program.command('account').description('prepaid and postpaid accounts and their ledger');

  account.command('create <code>')
    .description('open an account (balance 0; top it up afterwards)')
    .option('--kind <kind>', 'prepaid or postpaid', 'prepaid')
    .requiredOption('--currency <code>', 'ISO 4217 currency, e.g. EUR')
    .option('--credit-limit <amount>', 'postpaid: how far the balance may go below zero')
    .option('--max-calls <n>', 'concurrent-call limit')
    .option('--low-balance <amount>', 'low-balance threshold')
    .option('--expires <date>', 'expiry, ISO 8601 (UTC unless a zone is given)')
    .option('--status <status>', 'active, suspended or closed')
    .option('--json', 'machine-readable output')
    .action(async (code: string, o: Record<string, string | boolean | undefined>) => {
      const body = { code, kind: o.kind, currency: o.currency, ...patchBody(o) };
      checkInput(S.newAccountBody, body, FIELD_NAMES, money);
      const input: NewAccount = { code, kind: body.kind as NewAccount['kind'], currency: String(body.currency), ...patchFrom(body) };
      const created = await withAccounts((svc) => svc.create(input));
      out(o.json as boolean, created, () => `created account ${created.id} ${created.code}\n${describe(created)}`);
    });

  account.command('list')
    .description('every account with its balance')
    .option('--status <status>', 'only active, suspended or closed ones')
    .option('--kind <kind>', 'only prepaid or postpaid ones')
    .option('--json', 'machine-readable output')
    .action(async (o: { status?: string; kind?: string; json?: boolean }) => {
      checkInput(S.accountListQuery, { status: o.status, kind: o.kind }, FIELD_NAMES);
      const all = await withAccounts((svc) => svc.list());
      const shown = all.filter((a) => (o.status === undefined || a.status === o.status) && (o.kind === undefined || a.kind === o.kind));
      out(o.json, shown, () => accountTable(shown));
    });

  account.command('show <account>')
    .description('balance, reserved and limits of an account (id or code)')
    .option('--json', 'machine-readable output')
    .action(async (ref: string, o: { json?: boolean }) => {
      const a = await withAccounts((svc) => svc.resolve(ref));
      out(o.json, a, () => describe(a));
    });

  account.command('set <account>')
    .description('change status, limits or expiry of an account (id or code)')
    .option('--status <status>', 'active, suspended or closed')
    .option('--credit-limit <amount>', 'postpaid credit limit')
    .option('--max-calls <n>', 'concurrent-call limit ("none" for unlimited)')
    .option('--low-balance <amount>', 'low-balance threshold ("none" to clear)')
    .option('--expires <date>', 'expiry, ISO 8601 ("none" to clear)')
    .option('--json', 'machine-readable output')
    .action(async (ref: string, o: Record<string, string | boolean | undefined>) => {
      const body = patchBody(o);
      checkInput(S.accountPatchBody, body, FIELD_NAMES, money);
      const a = await withAccounts(async (svc) => svc.update((await svc.resolve(ref)).id, patchFrom(body)));
      out(o.json as boolean, a, () => describe(a));
    });

  const posting = (what: 'top-up' | 'adjustment') => async (ref: string, amount: string, o: { key: string; currency?: string; note?: string; json?: boolean }) => {
    const body = { amount, key: o.key, currency: o.currency, note: o.note };
    checkInput(S.postingBody(what), body, FIELD_NAMES, money);
    const value = parseAmount(amount);
    const opts = { currency: o.currency, note: o.note };
    const entry = await withAccounts(async (svc) => {
      const id = (await svc.resolve(ref)).id;
      return what === 'top-up' ? svc.topup(id, value, o.key, opts) : svc.adjust(id, value, o.key, opts);
    });
    out(o.json, entry, () => entry.replay
      ? `nothing changed: --key ${o.key} was already posted as entry ${entry.id} (${what} ${formatMoney(entry.amount)}; balance then ${formatMoney(entry.balanceAfter)})`
      : `${what} ${formatMoney(entry.amount)}; balance ${formatMoney(entry.balanceAfter)} (entry ${entry.id})`);
  };

  account.command('topup <account> <amount>')
    .description('add money to an account (id or code); a replay with the same --key changes nothing and says so')
    .requiredOption('--key <key>', 'idempotency key, unique per top-up')
    .option('--currency <code>', 'refuse unless the account is in this currency')
    .option('--note <text>', 'note kept on the ledger entry')
    .option('--json', 'machine-readable output ("replay": true when nothing changed)')
    .action(posting('top-up'));

  account.command('adjust <account> <amount>')
    .description('signed correction (e.g. -1.50); a replay with the same --key changes nothing and says so')
    .requiredOption('--key <key>', 'idempotency key, unique per adjustment')
    .option('--currency <code>', 'refuse unless the account is in this currency')
    .option('--note <text>', 'why: kept on the ledger entry')
    .option('--json', 'machine-readable output ("replay": true when nothing changed)')
    .action(posting('adjustment'));

  account.command('ledger <account>')
    .description('ledger entries of an account (id or code), newest first')
    .option('--limit <n>', 'how many entries', '50')
    .option('--json', 'machine-readable output')
    .action(async (ref: string, o: { limit: string; json?: boolean }) => {
      const limit = /^\d+$/.test(o.limit) ? Number(o.limit) : o.limit;
      checkInput(S.ledgerQuery, { limit }, FIELD_NAMES);
      const entries = await withAccounts(async (svc) => svc.ledger((await svc.resolve(ref)).id, limit as number));
      out(o.json, entries, () => ledgerTable(entries));
    });

  account.command('check')
    .description('verify for every account: balance = sum of its ledger, reserved = its live reservations')
    .option('--json', 'machine-readable output')
    .action(async (o: { json?: boolean }) => {
      const audits = await withAccounts((svc) => svc.check());
      const bad = audits.filter((a) => !a.ok);
      out(o.json, audits, () => [...bad.map(auditLine), `${audits.length} account(s) checked, ${bad.length} inconsistent`].join('\n'));
      if (bad.length > 0) throw new AppError('LEDGER_MISMATCH', `${bad.length} account(s) inconsistent: ${bad.map((a) => a.code).join(', ')}`);
    });
}

/** The options of `create`/`set` as the admin API's body fields ("none" is null: cleared). */
function patchBody(o: Record<string, string | boolean | undefined>): Record<string, unknown> {
  const text = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
  const orNone = <T>(v: string | undefined, f: (s: string) => T): T | null | undefined => (v === undefined ? undefined : v === 'none' ? null : f(v));
  const body: Record<string, unknown> = {
    status: text(o.status),
    creditLimit: text(o.creditLimit),
    lowBalanceThreshold: orNone(text(o.lowBalance), (v) => v),
    maxCalls: orNone(text(o.maxCalls), (v) => (/^\d+$/.test(v) ? Number(v) : v)),
    // A date alone, or a time without a zone, is UTC, as everywhere in the command line.
    expiresAt: orNone(text(o.expires), (v) => (/^\d{4}-\d\d-\d\d([T ]\d\d:\d\d(:\d\d(\.\d+)?)?)?$/.test(v) ? `${v.replace(' ', 'T')}${v.length === 10 ? 'T00:00:00' : v.length === 16 ? ':00' : ''}Z` : v)),
  };
  for (const k of Object.keys(body)) if (body[k] === undefined) delete body[k];
  return body;
}

/** A body that passed the schema, as the domain's patch. */
function patchFrom(b: Record<string, unknown>): AccountPatch {
  const p: AccountPatch = {};
  if (b.status !== undefined) p.status = b.status as AccountPatch['status'];
  if (typeof b.creditLimit === 'string') p.creditLimit = money(b.creditLimit, 'creditLimit');
  if (b.lowBalanceThreshold !== undefined) p.lowBalanceThreshold = b.lowBalanceThreshold === null ? null : money(String(b.lowBalanceThreshold), 'lowBalanceThreshold');
  if (b.maxCalls !== undefined) p.maxCalls = b.maxCalls as number | null;
  if (b.expiresAt !== undefined) p.expiresAt = b.expiresAt === null ? null : new Date(String(b.expiresAt));
  return p;
}

function accountTable(accounts: Account[]): string {
  const columns: Column[] = [{ header: 'ID' }, { header: 'CODE' }, { header: 'KIND' }, { header: 'STATUS' }, { header: 'CURRENCY' },
    { header: 'BALANCE', right: true }, { header: 'RESERVED', right: true }, { header: 'AVAILABLE', right: true }, { header: 'CALLS' }];
  return formatTable(columns, accounts.map((a) => [String(a.id), a.code, a.kind, a.status, a.currency, formatMoney(a.balance), formatMoney(a.reserved),
    formatMoney(a.balance + a.creditLimit - a.reserved), `${a.liveCalls}/${a.maxCalls ?? '-'}`]), 'no accounts');
}

function describe(a: Account): string {
  const available = a.balance + a.creditLimit - a.reserved;
  return [
    `account   ${a.id} ${a.code} (${a.kind}, ${a.status})`,
    `balance   ${formatMoney(a.balance)} ${a.currency}`,
    `reserved  ${formatMoney(a.reserved)} for ${a.liveCalls} live call(s)`,
    `available ${formatMoney(available)}`,
    a.kind === 'postpaid' ? `credit    ${formatMoney(a.creditLimit)}` : undefined,
    `limits    calls ${a.maxCalls ?? 'unlimited'}, low balance ${a.lowBalanceThreshold === null ? 'none' : formatMoney(a.lowBalanceThreshold)}, expires ${a.expiresAt?.toISOString() ?? 'never'}`,
  ].filter((l): l is string => l !== undefined).join('\n');
}

function ledgerTable(entries: LedgerEntry[]): string {
  const columns: Column[] = [{ header: 'ID' }, { header: 'TIME (UTC)' }, { header: 'KIND' }, { header: 'AMOUNT', right: true },
    { header: 'BALANCE AFTER', right: true }, { header: 'KEY' }, { header: 'CALL ID' }, { header: 'NOTE' }];
  return formatTable(columns, entries.map((e) => [String(e.id), e.createdAt.toISOString().slice(0, 19).replace('T', ' '), e.kind,
    formatMoney(e.amount), formatMoney(e.balanceAfter), e.idempotencyKey, e.callId ?? '', e.note ?? '']), 'no entries');
}

function auditLine(a: AccountAudit): string {
  return `MISMATCH ${a.code}: balance ${formatMoney(a.balance)} vs ledger ${formatMoney(a.ledgerSum)}; reserved ${formatMoney(a.reserved)} vs live ${formatMoney(a.activeReserved)}; calls ${a.liveCalls} vs ${a.activeReservations}`;
}
