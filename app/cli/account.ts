import type { Command } from 'commander';
import { AppError } from '../../lib/common/errors';
import { formatMoney } from '../../lib/common/money';
import { PrepaidRepository } from '../../lib/db/prepaid-repository';
import {
  AccountService, isAccountKind, isAccountStatus, parseAmount, PrepaidError,
  type Account, type AccountAudit, type AccountPatch, type LedgerEntry, type NewAccount,
} from '../../lib/prepaid';
import type { CliContext } from './context';

/** `tollgate account create|list|show|set|topup|adjust|ledger|check`. */
export function registerAccountCommands(program: Command, ctx: CliContext): void {
  const withAccounts = <T>(fn: (svc: AccountService) => Promise<T>): Promise<T> =>
    ctx.withDatabase((db) => fn(new AccountService(new PrepaidRepository(db))));
  const out = (json: boolean | undefined, value: unknown, text: () => string): void => {
    ctx.print(json ? JSON.stringify(value, jsonMoney, 2) : text());
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
      if (!isAccountKind(String(o.kind))) throw new PrepaidError('INVALID_ACCOUNT', `--kind must be prepaid or postpaid, not ${String(o.kind)}`);
      const input: NewAccount = { code, kind: String(o.kind) as NewAccount['kind'], currency: String(o.currency), ...patchFrom(o) };
      const created = await withAccounts((svc) => svc.create(input));
      out(o.json as boolean, created, () => `created account ${created.id} ${created.code}\n${describe(created)}`);
    });

  account.command('list')
    .description('every account with its balance (example: tollgate account list --status active)')
    .option('--status <status>', 'only active, suspended or closed ones')
    .option('--kind <kind>', 'only prepaid or postpaid ones')
    .option('--json', 'machine-readable output')
    .action(async (o: { status?: string; kind?: string; json?: boolean }) => {
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
    .description('change status, limits or expiry of an account')
    .option('--status <status>', 'active, suspended or closed')
    .option('--credit-limit <amount>', 'postpaid credit limit')
    .option('--max-calls <n>', 'concurrent-call limit ("none" for unlimited)')
    .option('--low-balance <amount>', 'low-balance threshold ("none" to clear)')
    .option('--expires <date>', 'expiry, ISO 8601 ("none" to clear)')
    .option('--json', 'machine-readable output')
    .action(async (ref: string, o: Record<string, string | boolean | undefined>) => {
      const a = await withAccounts(async (svc) => svc.update((await svc.resolve(ref)).id, patchFrom(o)));
      out(o.json as boolean, a, () => describe(a));
    });

  account.command('topup <account> <amount>')
    .description('add money; a replay with the same --key changes nothing')
    .requiredOption('--key <key>', 'idempotency key, unique per top-up')
    .option('--currency <code>', 'refuse unless the account is in this currency')
    .option('--note <text>', 'note kept on the ledger entry')
    .option('--json', 'machine-readable output')
    .action(async (ref: string, amount: string, o: { key: string; currency?: string; note?: string; json?: boolean }) => {
      const money = parseAmount(amount);
      const entry = await withAccounts(async (svc) => svc.topup((await svc.resolve(ref)).id, money, o.key, { currency: o.currency, note: o.note }));
      out(o.json, entry, () => `top-up ${formatMoney(entry.amount)}; balance ${formatMoney(entry.balanceAfter)} (entry ${entry.id})`);
    });

  account.command('adjust <account> <amount>')
    .description('signed correction (e.g. -1.50); a replay with the same --key changes nothing')
    .requiredOption('--key <key>', 'idempotency key, unique per adjustment')
    .option('--currency <code>', 'refuse unless the account is in this currency')
    .option('--note <text>', 'why: kept on the ledger entry')
    .option('--json', 'machine-readable output')
    .action(async (ref: string, amount: string, o: { key: string; currency?: string; note?: string; json?: boolean }) => {
      const money = parseAmount(amount);
      const entry = await withAccounts(async (svc) => svc.adjust((await svc.resolve(ref)).id, money, o.key, { currency: o.currency, note: o.note }));
      out(o.json, entry, () => `adjustment ${formatMoney(entry.amount)}; balance ${formatMoney(entry.balanceAfter)} (entry ${entry.id})`);
    });

  account.command('ledger <account>')
    .description('ledger entries, newest first')
    .option('--limit <n>', 'how many entries', '50')
    .option('--json', 'machine-readable output')
    .action(async (ref: string, o: { limit: string; json?: boolean }) => {
      const limit = Number(o.limit);
      if (!Number.isInteger(limit) || limit < 1) throw new AppError('INVALID_ARGUMENT', `--limit must be a whole number from 1, not ${o.limit}`);
      const entries = await withAccounts(async (svc) => svc.ledger((await svc.resolve(ref)).id, limit));
      out(o.json, entries, () => entries.map(ledgerLine).join('\n') || 'no entries');
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

function patchFrom(o: Record<string, string | boolean | undefined>): AccountPatch {
  const p: AccountPatch = {};
  const none = (v: unknown) => v === 'none';
  if (typeof o.status === 'string') {
    if (!isAccountStatus(o.status)) throw new PrepaidError('INVALID_ACCOUNT', `--status must be active, suspended or closed, not ${o.status}`);
    p.status = o.status;
  }
  if (typeof o.creditLimit === 'string') p.creditLimit = parseAmount(o.creditLimit, 'credit limit');
  if (typeof o.lowBalance === 'string') p.lowBalanceThreshold = none(o.lowBalance) ? null : parseAmount(o.lowBalance, 'low-balance threshold');
  if (typeof o.maxCalls === 'string') {
    if (none(o.maxCalls)) p.maxCalls = null;
    else if (/^\d+$/.test(o.maxCalls)) p.maxCalls = Number(o.maxCalls);
    else throw new PrepaidError('INVALID_ACCOUNT', `--max-calls must be a whole number, not ${o.maxCalls}`);
  }
  if (typeof o.expires === 'string') {
    if (none(o.expires)) p.expiresAt = null;
    else {
      const text = /^\d{4}-\d\d-\d\d([T ]\d\d:\d\d(:\d\d(\.\d+)?)?)?$/.test(o.expires) ? `${o.expires.replace(' ', 'T')}${o.expires.length === 10 ? 'T00:00:00' : ''}Z` : o.expires;
      const d = new Date(text);
      if (Number.isNaN(d.getTime())) throw new PrepaidError('INVALID_ACCOUNT', `--expires must be an ISO 8601 date, not ${o.expires}`);
      p.expiresAt = d;
    }
  }
  return p;
}

function accountTable(accounts: Account[]): string {
  if (accounts.length === 0) return 'no accounts';
  const header = ['ID', 'CODE', 'KIND', 'STATUS', 'CURRENCY', 'BALANCE', 'RESERVED', 'AVAILABLE', 'CALLS'];
  const rows = accounts.map((a) => [String(a.id), a.code, a.kind, a.status, a.currency, formatMoney(a.balance), formatMoney(a.reserved),
    formatMoney(a.balance + a.creditLimit - a.reserved), `${a.liveCalls}/${a.maxCalls ?? '-'}`]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((v, i) => (i >= 5 && i <= 7 ? v.padStart(widths[i]!) : v.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
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

function ledgerLine(e: LedgerEntry): string {
  return `${e.id}\t${e.createdAt.toISOString()}\t${e.kind.padEnd(10)}\t${formatMoney(e.amount).padStart(14)}\t${formatMoney(e.balanceAfter).padStart(14)}\t${e.idempotencyKey}${e.note ? `\t${e.note}` : ''}`;
}

function auditLine(a: AccountAudit): string {
  return `MISMATCH ${a.code}: balance ${formatMoney(a.balance)} vs ledger ${formatMoney(a.ledgerSum)}; reserved ${formatMoney(a.reserved)} vs live ${formatMoney(a.activeReserved)}; calls ${a.liveCalls} vs ${a.activeReservations}`;
}

/** Money leaves as decimal strings in JSON output, never as floats. */
function jsonMoney(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? formatMoney(value) : value;
}
