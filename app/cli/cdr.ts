import fs from 'node:fs';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import type { Command } from 'commander';
import { AppError } from '../../lib/common/errors';
import { formatMoney } from '../../lib/common/money';
import { CdrRepository, type CdrFilter, type CdrRecord } from '../../lib/db/cdr-repository';
import type { Database } from '../../lib/db/database';
import { PrepaidRepository } from '../../lib/db/prepaid-repository';
import { AccountService } from '../../lib/prepaid';
import { cdrCsvHeader, cdrCsvLine, cdrFilterFrom, cdrJson, CDR_FIELDS } from '../admin/cdr-format';
import { checkInput } from '../admin/input';
import { cdrFilterQuery } from '../admin/schemas';
import type { CliContext } from './context';
import { formatTable, type Column } from './output';

interface FilterOptions { from?: string; to?: string; account?: string; group?: string; caller?: string; disposition?: string }

const OPTION_NAMES = { from: '--from', to: '--to', group: '--group', caller: '--caller', disposition: '--disposition' };

function withFilterOptions(cmd: Command): Command {
  return cmd
    .option('--from <instant>', 'INVITE at or after (ISO 8601; UTC unless a zone is given), e.g. 2026-03-01')
    .option('--to <instant>', 'INVITE before (ISO 8601)')
    .option('--account <account>', 'account id or code')
    .option('--group <code>', 'VPN group of the caller')
    .option('--caller <digits>', "caller's E.164 number or digits as received; a trailing * matches a prefix")
    .option('--disposition <d>', 'answered, busy, no_answer, cancelled, failed or refused');
}

async function filterOf(db: Database, o: FilterOptions): Promise<CdrFilter> {
  const text = { from: o.from, to: o.to, account: o.account, group: o.group, caller: o.caller, disposition: o.disposition };
  checkInput(cdrFilterQuery, JSON.parse(JSON.stringify(text)) as Record<string, unknown>, { ...OPTION_NAMES, account: '--account' });
  const filter = cdrFilterFrom(o, OPTION_NAMES);
  if (o.account !== undefined) filter.accountId = (await new AccountService(new PrepaidRepository(db)).resolve(o.account)).id;
  return filter;
}

/** `tollgate cdr list|show|export`: call detail records, filtered, as a table, CSV or JSON. */
export function registerCdrCommands(program: Command, ctx: CliContext): void {
  const cdr = program.command('cdr').description('call detail records: list, show one, export');

  withFilterOptions(cdr.command('list'))
    .description('CDRs, newest first, as a table, CSV or JSON')
    .option('--limit <n>', 'how many', '50')
    .option('--format <format>', 'table, csv or json', 'table')
    .option('--json', 'same as --format json')
    .action(async (o: FilterOptions & { limit: string; format: string; json?: boolean }) => {
      const limit = Number(o.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw new AppError('INVALID_ARGUMENT', `--limit must be a whole number from 1 to 10000, not ${o.limit}`);
      const format = o.json ? 'json' : o.format;
      if (!['table', 'csv', 'json'].includes(format)) throw new AppError('INVALID_ARGUMENT', `--format must be table, csv or json, not ${format}`);
      const text = await ctx.withDatabase(async (db) => {
        const page = await new CdrRepository(db).findPage(await filterOf(db, o), { limit });
        if (format === 'json') return JSON.stringify(page.cdrs.map(cdrJson), null, 2);
        if (format === 'csv') return cdrCsvHeader() + page.cdrs.map(cdrCsvLine).join('');
        return cdrTable(page.cdrs, await accountCodes(db, page.cdrs)) + (page.next ? `\n(more: narrow the filter, raise --limit, or use cdr export)` : '');
      });
      ctx.print(text);
    });

  cdr.command('show <callId>')
    .description("one CDR by Tollgate's call id or by the SIP Call-ID")
    .option('--json', 'machine-readable output')
    .action(async (id: string, o: { json?: boolean }) => {
      const found = await ctx.withDatabase(async (db) => {
        const repo = new CdrRepository(db);
        return (await repo.findByCallId(id)) ?? (await repo.findBySipCallId(id));
      });
      if (!found) throw new AppError('UNKNOWN_CALL', `no CDR for call ${id}`);
      const j = cdrJson(found);
      ctx.print(o.json ? JSON.stringify(j, null, 2) : CDR_FIELDS.map((f) => `${f.padEnd(16)} ${j[f] ?? ''}`).join('\n'));
    });

  withFilterOptions(cdr.command('export'))
    .description('every matching CDR, oldest first, streamed')
    .option('--format <format>', 'csv, json (one array) or ndjson (one object a line)', 'csv')
    .option('--output <file>', 'write here instead of standard output')
    .action(async (o: FilterOptions & { format: string; output?: string }) => {
      if (!['csv', 'json', 'ndjson'].includes(o.format)) throw new AppError('INVALID_ARGUMENT', `--format must be csv, json or ndjson, not ${o.format}`);
      const out: Writable = o.output ? fs.createWriteStream(o.output) : process.stdout;
      const count = await ctx.withDatabase(async (db) => writeExport(out, new CdrRepository(db).stream(await filterOf(db, o)), o.format as 'csv' | 'json' | 'ndjson'));
      if (o.output) {
        out.end();
        await once(out, 'finish');
        process.stderr.write(`${count} CDR(s) written to ${o.output}\n`);
      }
    });
}

/** Writes the CDRs as they come, waiting for the stream to drain: memory stays at one page. */
export async function writeExport(out: Writable, cdrs: AsyncIterable<CdrRecord>, format: 'csv' | 'json' | 'ndjson'): Promise<number> {
  const write = async (s: string) => { if (!out.write(s)) await once(out, 'drain'); };
  let n = 0;
  if (format === 'csv') await write(cdrCsvHeader());
  if (format === 'json') await write('[');
  for await (const c of cdrs) {
    if (format === 'csv') await write(cdrCsvLine(c));
    else if (format === 'ndjson') await write(`${JSON.stringify(cdrJson(c))}\n`);
    else await write(`${n > 0 ? ',' : ''}\n${JSON.stringify(cdrJson(c))}`);
    n++;
  }
  if (format === 'json') await write(n > 0 ? '\n]\n' : ']\n');
  return n;
}

async function accountCodes(db: Database, cdrs: CdrRecord[]): Promise<Map<number, string>> {
  const repo = new PrepaidRepository(db);
  const codes = new Map<number, string>();
  for (const id of new Set(cdrs.map((c) => c.accountId).filter((v): v is number => v !== null))) {
    const a = await repo.getAccount(id);
    if (a) codes.set(id, a.code);
  }
  return codes;
}

function cdrTable(cdrs: CdrRecord[], codes: Map<number, string>): string {
  const columns: Column[] = [{ header: 'START (UTC)' }, { header: 'CALL ID' }, { header: 'CALLER' }, { header: 'CALLEE' }, { header: 'DISPOSITION' },
    { header: 'CAUSE' }, { header: 'STATUS', right: true }, { header: 'SECONDS', right: true }, { header: 'COST', right: true }, { header: 'ACCOUNT' }];
  return formatTable(columns, cdrs.map((c) => [
    c.inviteAt.toISOString().slice(0, 19).replace('T', ' '), c.callId, c.callerE164 ?? c.callerDialled ?? '', c.calleeE164 ?? c.calleeDialled ?? '',
    c.disposition, c.releaseCause ?? '', c.sipStatus === null ? '' : String(c.sipStatus), String(c.billableSeconds),
    c.currency ? `${formatMoney(c.cost)} ${c.currency}` : formatMoney(c.cost), c.accountId === null ? '' : codes.get(c.accountId) ?? String(c.accountId),
  ]), 'no CDRs');
}
