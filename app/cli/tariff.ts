import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { AppError } from '../../lib/common/errors';
import { formatMoney, parseMoney } from '../../lib/common/money';
import { RatingRepository } from '../../lib/db/rating-repository';
import { formatTableCsv, parseTableCsv, CsvFormatError } from '../../lib/rating/csv';
import { formatProblems } from '../../lib/rating/reloader';
import { RATING_TABLE_NAMES, RATING_TABLES, emptyTables, rowsToRawRuleSet, type RatingTableName, type RatingTableRows } from '../../lib/rating/tables';
import { RatingEngine, parseInstant, validateRuleSet, type PriceBreakdown, type RuleProblem, type RuleSet, type ServiceAttributes } from '../../lib/rating';
import { formatTimeOfDay } from '../../lib/rating/time-zone';
import { checkInput } from '../admin/input';
import { tariffDryRunBody } from '../admin/schemas';
import type { CliContext } from './context';
import { formatTable } from './output';

const DRY_RUN_OPTIONS = { service: '--service', destination: '--destination', plan: '--plan', group: '--group', start: '--start', seconds: '--seconds', money: '--money' };

interface RateOptions {
  service: string;
  destination: string;
  plan?: string;
  group?: string;
  start?: string;
  seconds: string;
  money?: string;
  json?: boolean;
}

export function registerTariffCommands(program: Command, ctx: CliContext): void {
  const tariff = program.command('tariff').description('rating tables: check, dry-run pricing, CSV export and import');

  tariff.command('check')
    .description('validate the rating tables in the database; exits 1 and lists every problem when invalid')
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }) => {
      const ruleSet = await ctx.withDatabase(async (db) => loadValid(ctx, new RatingRepository(db, ctx.config().rating.timeZone), opts.json === true));
      if (opts.json) ctx.print(JSON.stringify({ ok: true, rules: ruleSet.ruleCount, tariffs: ruleSet.tariffs.size }));
      else ctx.print(`rating tables are valid: ${ruleSet.ruleCount} charging rule(s), ${ruleSet.tariffs.size} tariff(s)`);
    });

  tariff.command('rate')
    .description('dry run: price a hypothetical call and show the matched rule, tariff and breakdown')
    .requiredOption('--service <code>', 'service code, e.g. voice.public')
    .requiredOption('--destination <digits>', 'E.164 digits without +')
    .option('--plan <code>', "caller's plan")
    .option('--group <code>', "caller's VPN group")
    .option('--start <instant>', 'start of the call, e.g. 2026-12-24T18:30:00Z or 2026-12-24 19:30 +01:00; without a zone it is UTC (default: now)')
    .requiredOption('--seconds <n>', 'billable seconds')
    .option('--money <amount>', 'also show how many seconds this amount buys')
    .option('--json', 'machine-readable output')
    .action(async (opts: RateOptions) => {
      // Read like valid_from/valid_to: without a zone it is UTC, never the host's zone.
      const startMs = opts.start === undefined ? Date.now() : parseInstant(opts.start);
      if (startMs === null) throw new AppError('BAD_ARGUMENT', `--start is not an instant: ${opts.start} (e.g. 2026-12-24T18:30:00Z; without a zone it is UTC)`);
      const start = new Date(startMs);
      // The same body, and so the same schema, as the admin API's POST /rating/dry-run.
      const body = {
        service: opts.service, destination: opts.destination, plan: opts.plan, group: opts.group, start: start.toISOString(),
        seconds: /^\d+$/.test(opts.seconds) ? Number(opts.seconds) : opts.seconds, money: opts.money,
      };
      checkInput(tariffDryRunBody, JSON.parse(JSON.stringify(body)) as Record<string, unknown>, DRY_RUN_OPTIONS, (text) => parseMoney(text));
      const seconds = body.seconds as number;
      const money = opts.money === undefined ? undefined : parseMoney(opts.money);
      const ruleSet = await ctx.withDatabase(async (db) => loadValid(ctx, new RatingRepository(db, ctx.config().rating.timeZone), opts.json === true));
      const attrs: ServiceAttributes = { service: opts.service, destination: opts.destination, callerPlan: opts.plan ?? null, vpnGroup: opts.group ?? null };
      const quote = new RatingEngine(ruleSet).quote(attrs, start);
      const b = quote.priceBreakdown(seconds);
      const buys = money === undefined ? undefined : quote.maxSeconds(money);
      if (opts.json) {
        ctx.print(JSON.stringify({ attributes: attrs, start: start.toISOString(), ...breakdownJson(b), ...(buys === undefined ? {} : { money: formatMoney(money!), maxSeconds: buys }) }));
        return;
      }
      const r = quote.rule;
      const matchers = [
        `service ${r.service}`, `prefix "${r.prefix}"`, `priority ${r.priority}`,
        r.callerPlan && `plan ${r.callerPlan}`, r.vpnGroup && `group ${r.vpnGroup}`, r.dayTypeCode && `day type ${r.dayTypeCode}`,
        r.windowFromMs !== null && `${formatTimeOfDay(r.windowFromMs)}-${formatTimeOfDay(r.windowToMs!)} ${r.zone.name}`,
      ].filter(Boolean).join(', ');
      const lines = [
        `rule ${r.id} (${matchers})`,
        `tariff ${r.tariff.id} ${r.tariff.code} in ${r.tariff.currency}, time zone ${r.tariff.timeZone}`,
        `call from ${start.toISOString()}, ${seconds} billable s (${b.freeSeconds} s free)`,
      ];
      if (b.connectFee > 0n) lines.push(`  connect fee${' '.repeat(47)}${formatMoney(b.connectFee).padStart(14)}`);
      for (const p of b.pieces) {
        const what = `  ${p.fromSecond}-${p.toSecond} s: ${p.increments} x ${p.incrementSeconds} s @ ${formatMoney(p.pricePerIncrement)} (rule ${p.ruleId}, tariff ${p.tariffId})`;
        lines.push(`${what.padEnd(58)}${formatMoney(p.amount).padStart(14)}`);
      }
      if (b.minimumApplied) lines.push(`  raised to the minimum charge ${formatMoney(b.minimumCharge)}`);
      lines.push(`price ${formatMoney(b.total)} ${b.currency}`);
      if (buys !== undefined) lines.push(`${formatMoney(money!)} ${b.currency} buys ${buys} s`);
      ctx.print(lines.join('\n'));
    });

  tariff.command('list')
    .description(`the rows of one rating table as a table: ${RATING_TABLE_NAMES.join(', ')} (default tariffs)`)
    .argument('[table]', 'which table', 'tariffs')
    .option('--json', 'machine-readable output')
    .action(async (table: string, opts: { json?: boolean }) => {
      if (!(RATING_TABLE_NAMES as string[]).includes(table)) throw new AppError('BAD_ARGUMENT', `[table] must be one of ${RATING_TABLE_NAMES.join(', ')}, not ${JSON.stringify(table)}`);
      const name = table as RatingTableName;
      const rows = (await ctx.withDatabase((db) => new RatingRepository(db, ctx.config().rating.timeZone).readTables()))[name];
      if (opts.json) {
        ctx.print(JSON.stringify(rows, null, 2));
        return;
      }
      const columns = RATING_TABLES[name];
      const figures = /^(id|.*_id|.*_second|.*seconds|priority|connect_fee|minimum_charge|price_per_increment)$/;
      ctx.print(formatTable(columns.map((c) => ({ header: c.toUpperCase(), right: figures.test(c) })), rows.map((r) => columns.map((c) => r[c] ?? '')), `no ${name}`));
    });

  tariff.command('export')
    .description('write the rating tables as CSV files (services.csv, day_types.csv, holidays.csv, tariffs.csv, tariff_steps.csv, charging_rules.csv)')
    .argument('<dir>', 'folder to write into (created if missing)')
    .action(async (dir: string) => {
      const tables = await ctx.withDatabase((db) => new RatingRepository(db, ctx.config().rating.timeZone).readTables());
      fs.mkdirSync(dir, { recursive: true });
      for (const t of RATING_TABLE_NAMES) fs.writeFileSync(path.join(dir, `${t}.csv`), formatTableCsv(t, tables[t]));
      ctx.print(`exported ${RATING_TABLE_NAMES.map((t) => `${tables[t].length} ${t}`).join(', ')} to ${dir}`);
    });

  tariff.command('import')
    .description('replace the rating tables with CSV files from a folder; everything is validated before anything is written, in one transaction')
    .argument('<dir>', 'folder holding the six CSV files')
    .option('--replace', 'replace rating tables that already hold rows')
    .action(async (dir: string, opts: { replace?: boolean }) => {
      const tables = readCsvFolder(dir);
      const result = validateRuleSet(rowsToRawRuleSet(tables, ctx.config().rating.timeZone));
      if (!result.ok) failWithProblems(ctx, result.problems, false, `the CSV files in ${dir}`);
      await ctx.withDatabase(async (db) => {
        const repo = new RatingRepository(db, ctx.config().rating.timeZone);
        const counts = await repo.countRows();
        const filled = RATING_TABLE_NAMES.filter((t) => counts[t] > 0);
        if (filled.length > 0 && !opts.replace) {
          throw new AppError('TABLES_NOT_EMPTY', `the rating tables already hold rows (${filled.join(', ')}); add --replace to replace them`);
        }
        await repo.replaceTables(tables);
      });
      ctx.print(`imported ${RATING_TABLE_NAMES.map((t) => `${tables[t].length} ${t}`).join(', ')} from ${dir}`);
    });
}

async function loadValid(ctx: CliContext, repo: RatingRepository, json: boolean): Promise<RuleSet> {
  const result = validateRuleSet(await repo.load());
  if (!result.ok) failWithProblems(ctx, result.problems, json, 'the rating tables');
  return result.ruleSet;
}

function failWithProblems(ctx: CliContext, problems: RuleProblem[], json: boolean, what: string): never {
  if (json) ctx.print(JSON.stringify({ ok: false, problems }));
  else ctx.print(formatProblems(problems).join('\n'));
  throw new AppError('RULESET_INVALID', `${what} have ${problems.length} problem(s)`, { problems });
}

function readCsvFolder(dir: string): RatingTableRows {
  const tables = emptyTables();
  for (const t of RATING_TABLE_NAMES) {
    const file = path.join(dir, `${t}.csv`);
    if (!fs.existsSync(file)) throw new AppError('CSV_MISSING', `${file} is missing (an import needs all of ${RATING_TABLE_NAMES.map((n) => `${n}.csv`).join(', ')})`);
    try {
      tables[t] = parseTableCsv(t, fs.readFileSync(file, 'utf8'));
    } catch (err) {
      if (err instanceof CsvFormatError) throw new AppError('CSV_INVALID', err.message, {}, { cause: err });
      throw err;
    }
  }
  return tables;
}

function breakdownJson(b: PriceBreakdown): Record<string, unknown> {
  return {
    ruleId: b.ruleId, tariffId: b.tariffId, currency: b.currency, seconds: b.seconds, freeSeconds: b.freeSeconds, chargedSeconds: b.chargedSeconds,
    connectFee: formatMoney(b.connectFee), subtotal: formatMoney(b.subtotal), minimumCharge: formatMoney(b.minimumCharge), minimumApplied: b.minimumApplied,
    price: formatMoney(b.total),
    pieces: b.pieces.map((p) => ({
      ruleId: p.ruleId, tariffId: p.tariffId, startsAt: p.startsAt.toISOString(), fromSecond: p.fromSecond, toSecond: p.toSecond,
      increments: p.increments, incrementSeconds: p.incrementSeconds, pricePerIncrement: formatMoney(p.pricePerIncrement), amount: formatMoney(p.amount),
    })),
  };
}
