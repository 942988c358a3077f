import { InvalidArgumentError, type Command } from 'commander';
import { VpnRepository, type CugMemberRow, type MemberRow, type ScreeningRow, type ShortCodeRow } from '../../lib/db/vpn-repository';
import { CALL_CLASSES, GROUP_STATUSES, isValidPrivatePrefix, normaliseNumber, parseMinuteOfDay, type CallClass, type GroupStatus } from '../../lib/vpn';
import { AppError } from '../../lib/common/errors';
import { formatMoney, parseMoney, type Micros } from '../../lib/common/money';
import { PrepaidRepository } from '../../lib/db/prepaid-repository';
import { AccountService, unlessUnknownAccount } from '../../lib/prepaid';
import { TimeZone } from '../../lib/rating/time-zone';
import { capHolds, localPeriods, type MemberCaps } from '../../lib/vpn';
import { CAP_LOOKAHEAD_MS, CapAccounts } from '../admission/group-budget';
import type { CliContext } from './context';

/**
 * `tollgate group …`: the enterprise features of a VPN group — private calls (prefix, personal
 * accounts), status, closed user groups, short codes (virtual on-net) and time-based screening.
 * Every change is validated against the whole directory before it commits, as `tollgate vpn …`.
 */

function callClass(value: string): CallClass {
  if (!(CALL_CLASSES as readonly string[]).includes(value)) throw new InvalidArgumentError(`call class must be one of ${CALL_CLASSES.join(', ')}`);
  return value as CallClass;
}

function groupStatus(value: string): GroupStatus {
  if (!(GROUP_STATUSES as readonly string[]).includes(value)) throw new InvalidArgumentError(`status must be one of ${GROUP_STATUSES.join(', ')}`);
  return value as GroupStatus;
}

function privatePrefix(value: string): string | null {
  if (value === '' || value === 'none') return null;
  if (!isValidPrivatePrefix(value)) throw new InvalidArgumentError('a private-call prefix is 1 to 4 of 0-9 * # (or "none")');
  return value;
}

function timeOfDay(value: string): string {
  if (parseMinuteOfDay(value) === undefined) throw new InvalidArgumentError('a time of day is HH:MM (24:00 for the end of the day)');
  return value;
}

function accountOrNone(value: string): number | null {
  if (value === 'none') return null;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('an account id (or "none")');
  return n;
}

function capAmount(value: string): Micros | null {
  if (value === 'none') return null;
  try {
    const m = parseMoney(value);
    if (m <= 0n) throw new Error('not positive');
    return m;
  } catch {
    throw new InvalidArgumentError('a cap is a positive decimal amount ("5.00"), or "none"');
  }
}

function noneToNull(value: string): string | null {
  return value === 'none' ? null : value;
}

function changeValidated<T>(ctx: CliContext, fn: (repo: VpnRepository) => Promise<T>): Promise<T> {
  return ctx.withDatabase((db) => new VpnRepository(db).changeValidated(ctx.config().numbering, fn));
}

function read<T>(ctx: CliContext, fn: (repo: VpnRepository) => Promise<T>): Promise<T> {
  return ctx.withDatabase((db) => fn(new VpnRepository(db)));
}

function e164(ctx: CliContext, typed: string): string {
  const result = normaliseNumber(typed, ctx.config().numbering);
  if (!result.ok) throw new AppError('VPN_INVALID', result.refusal.reason);
  return result.value;
}

const json = (v: unknown): string => JSON.stringify(v, null, 2);

/**
 * Opens the member's cap accounts for now and the next periods within the look-ahead, as the
 * application does: its next call is capped at once, however long until the application's next
 * pass. Idempotent with the application's own opening (same codes, same opening key).
 */
async function openCapAccounts(ctx: CliContext, m: MemberRow): Promise<number> {
  const caps = m.caps!;
  return ctx.withDatabase(async (db) => {
    const repo = new VpnRepository(db);
    const group = await repo.findGroup(m.groupCode);
    const payerAccountId = group.poolAccountId ?? (await repo.findSubscriber(m.e164)).accountId;
    const zone = new TimeZone(ctx.config().rating.timeZone);
    const now = new Date();
    return new CapAccounts(new AccountService(new PrepaidRepository(db))).openMember(
      { memberId: m.id, payerAccountId, caps }, [now, new Date(now.getTime() + CAP_LOOKAHEAD_MS)], (at) => zone.offsetAt(at.getTime()));
  });
}

function capsJson(caps: MemberCaps | undefined): Record<'perCall' | 'perDay' | 'perMonth', string | null> {
  const f = (v: Micros | null | undefined) => (v === null || v === undefined ? null : formatMoney(v));
  return { perCall: f(caps?.perCall), perDay: f(caps?.perDay), perMonth: f(caps?.perMonth) };
}

function describeCaps(caps: MemberCaps | undefined): string {
  const c = capsJson(caps);
  return `caps per call ${c.perCall ?? '-'}, per day ${c.perDay ?? '-'}, per month ${c.perMonth ?? '-'}`;
}

export function describeCugMember(m: CugMemberRow): string {
  return `${m.cugCode}: ${m.groupCode} ${m.extension}, outgoing access ${m.outgoingAccess ? 'yes' : 'no'}, incoming access ${m.incomingAccess ? 'yes' : 'no'}`;
}

export function describeShortCode(s: ShortCodeRow): string {
  return `${s.groupCode} ${s.code} → ${s.e164}, rated as ${s.service ?? 'voice.onnet'}${s.description ? ` (${s.description})` : ''}`;
}

export function describeScreening(r: ScreeningRow): string {
  const who = r.extension === null ? 'every member' : `extension ${r.extension}`;
  const when = `${r.dayType ?? 'any day'}${r.timeFrom === null ? ', all day' : ` ${r.timeFrom}-${r.timeTo}`}`;
  return `#${r.id} ${r.groupCode} ${who}: ${when} → ${r.callClass} (priority ${r.priority})`;
}

function registerCugCommands(group: Command, ctx: CliContext): void {
  const cug = group.command('cug').description('closed user groups: members call only within them unless given outgoing access, and are called from outside only with incoming access');
  cug.command('add <code>').description('create a closed user group').requiredOption('--name <name>', 'display name')
    .action(async (code: string, o: { name: string }) => {
      const c = await changeValidated(ctx, (repo) => repo.addCug(code, o.name));
      ctx.print(`added closed user group ${c.code} (${c.name})`);
    });
  cug.command('remove <code>').description('delete a closed user group and its memberships')
    .action(async (code: string) => {
      await changeValidated(ctx, (repo) => repo.removeCug(code));
      ctx.print(`removed closed user group ${code}`);
    });
  cug.command('list').description('list closed user groups').option('--json', 'machine-readable output')
    .action(async (o: { json?: boolean }) => {
      const cugs = await read(ctx, (repo) => repo.listCugs());
      ctx.print(o.json ? json(cugs) : cugs.map((c) => `${c.code} (${c.name}): ${c.members} member(s)`).join('\n') || 'no closed user groups');
    });
  cug.command('join <cug> <group> <extension>').description('put a member in a closed user group (or change its access there)')
    .option('--outgoing-access', 'may call outside its CUGs').option('--no-outgoing-access', 'may not')
    .option('--incoming-access', 'may be called from outside its CUGs').option('--no-incoming-access', 'may not')
    .action(async (cugCode: string, groupCode: string, extension: string, o: { outgoingAccess?: boolean; incomingAccess?: boolean }) => {
      const m = await changeValidated(ctx, (repo) => repo.putCugMember({ cugCode, groupCode, extension, outgoingAccess: o.outgoingAccess, incomingAccess: o.incomingAccess }));
      ctx.print(`member ${describeCugMember(m)}`);
    });
  cug.command('leave <cug> <group> <extension>').description('take a member out of a closed user group')
    .action(async (cugCode: string, groupCode: string, extension: string) => {
      await changeValidated(ctx, (repo) => repo.removeCugMember(cugCode, groupCode, extension));
      ctx.print(`removed ${groupCode} ${extension} from closed user group ${cugCode}`);
    });
  cug.command('members [cug]').description('list CUG memberships').option('--json', 'machine-readable output')
    .action(async (cugCode: string | undefined, o: { json?: boolean }) => {
      const rows = await read(ctx, (repo) => repo.listCugMembers(cugCode));
      ctx.print(o.json ? json(rows) : rows.map(describeCugMember).join('\n') || 'no memberships');
    });
}

function registerShortCodeCommands(group: Command, ctx: CliContext): void {
  const sc = group.command('short-code').description('group short codes for outside numbers (virtual on-net)');
  sc.command('add <group> <code> <number>').description('make <code> dial <number> for every member of <group>')
    .option('--service <code>', 'service the call is rated by (default voice.onnet)')
    .option('--description <text>', 'what it is')
    .action(async (groupCode: string, code: string, number: string, o: { service?: string; description?: string }) => {
      const s = await changeValidated(ctx, (repo) => repo.addShortCode({ groupCode, code, e164: e164(ctx, number), service: o.service ?? null, description: o.description ?? null }));
      ctx.print(`added short code ${describeShortCode(s)}`);
    });
  sc.command('remove <group> <code>').description('delete a short code')
    .action(async (groupCode: string, code: string) => {
      await changeValidated(ctx, (repo) => repo.removeShortCode(groupCode, code));
      ctx.print(`removed short code ${code} of group ${groupCode}`);
    });
  sc.command('list [group]').description('list short codes').option('--json', 'machine-readable output')
    .action(async (groupCode: string | undefined, o: { json?: boolean }) => {
      const rows = await read(ctx, (repo) => repo.listShortCodes(groupCode));
      ctx.print(o.json ? json(rows) : rows.map(describeShortCode).join('\n') || 'no short codes');
    });
}

function registerScreeningCommands(group: Command, ctx: CliContext): void {
  const sr = group.command('screening').description('time-based screening: a call class by day type and time of day (the rating calendar)');
  sr.command('add <group>').description('add a rule: for one member (--extension) or every member of the group')
    .requiredOption('--class <class>', `call class while the rule holds: ${CALL_CLASSES.join(' < ')}`, callClass)
    .option('--extension <extension>', 'the member (default: every member of the group)')
    .option('--day-type <code>', 'day type of the rating calendar (default: any day)')
    .option('--from <HH:MM>', 'local time from (inclusive)', timeOfDay)
    .option('--to <HH:MM>', 'local time to (exclusive; before --from: past midnight)', timeOfDay)
    .option('--priority <n>', 'lower is tried first (default 0)', (v: string) => Number.parseInt(v, 10))
    .action(async (groupCode: string, o: { class: CallClass; extension?: string; dayType?: string; from?: string; to?: string; priority?: number }) => {
      const r = await changeValidated(ctx, (repo) => repo.addScreeningRule({
        groupCode, extension: o.extension ?? null, dayType: o.dayType ?? null, timeFrom: o.from ?? null, timeTo: o.to ?? null, callClass: o.class, priority: o.priority ?? 0,
      }));
      ctx.print(`added screening rule ${describeScreening(r)}`);
    });
  sr.command('remove <id>').description('delete a screening rule')
    .action(async (id: string) => {
      await changeValidated(ctx, (repo) => repo.removeScreeningRule(Number(id)));
      ctx.print(`removed screening rule #${id}`);
    });
  sr.command('list [group]').description('list screening rules in the order they are tried').option('--json', 'machine-readable output')
    .action(async (groupCode: string | undefined, o: { json?: boolean }) => {
      const rows = await read(ctx, (repo) => repo.listScreening(groupCode));
      ctx.print(o.json ? json(rows) : rows.map(describeScreening).join('\n') || 'no screening rules');
    });
}

export function registerEnterpriseGroupCommands(program: Command, ctx: CliContext): void {
  const group = program.command('group').description('enterprise features of VPN groups: private calls, status, closed user groups, short codes, screening');
  group.command('set <group>').description('private-call prefix and status of a group')
    .option('--private-prefix <prefix>', 'dialled before a number to make the call private ("*7"); "none" to turn private calls off', privatePrefix)
    .option('--status <status>', `${GROUP_STATUSES.join(', ')}: only an active group's members call and are called`, groupStatus)
    .action(async (code: string, o: { privatePrefix?: string | null; status?: GroupStatus }) => {
      const g = await changeValidated(ctx, (repo) => repo.updateGroup(code, { privatePrefix: o.privatePrefix, status: o.status }));
      ctx.print(`group ${g.code}: private-call prefix ${g.privatePrefix ?? 'none'}, status ${g.status ?? 'active'}`);
    });
  group.command('personal <group> <extension>').description('the member\'s personal account and plan, which pay and rate its private calls')
    .option('--account <id>', 'personal account id, or "none"', accountOrNone)
    .option('--plan <code>', 'caller plan its private calls are rated by, or "none" (the subscriber\'s plan)', noneToNull)
    .action(async (groupCode: string, extension: string, o: { account?: number | null; plan?: string | null }) => {
      const m = await changeValidated(ctx, (repo) => repo.updateMember(groupCode, extension, { personalAccountId: o.account, personalPlan: o.plan }));
      ctx.print(`member ${m.groupCode} ${m.extension}: personal account ${m.personalAccountId ?? 'none'}, personal plan ${m.personalPlan ?? '-'}`);
    });
  group.command('pool <group> <account>').description('pay the group\'s business calls from this prepaid account (id or code); "none": each member\'s own account')
    .action(async (code: string, account: string) => {
      const id = account === 'none' ? null : await ctx.withDatabase(async (db) => (await new AccountService(new PrepaidRepository(db)).resolve(account)).id);
      const g = await changeValidated(ctx, (repo) => repo.setPool(code, id));
      ctx.print(`group ${g.code}: pool ${g.poolAccountId ?? 'none'}`);
    });
  group.command('cap <group> <extension>').description('caps on a member\'s business calls, on top of the pool')
    .option('--per-call <amount>', 'the most one call may cost ("none" to clear)', capAmount)
    .option('--per-day <amount>', 'the most a local day\'s calls may cost ("none" to clear)', capAmount)
    .option('--per-month <amount>', 'the most a month\'s calls may cost ("none" to clear)', capAmount)
    .action(async (groupCode: string, extension: string, o: { perCall?: Micros | null; perDay?: Micros | null; perMonth?: Micros | null }) => {
      const m = await changeValidated(ctx, (repo) => repo.setCaps(groupCode, extension, o));
      const opened = m.caps ? await openCapAccounts(ctx, m) : 0;
      ctx.print(`member ${m.groupCode} ${m.extension}: ${describeCaps(m.caps)}${opened > 0 ? `; ${opened} cap account(s) open` : ''}`);
    });
  group.command('budget <group>').description('the group\'s pool and, per member, its caps and what is left of them now')
    .option('--json', 'machine-readable output')
    .action(async (groupCode: string, o: { json?: boolean }) => {
      const report = await ctx.withDatabase(async (db) => {
        const repo = new VpnRepository(db);
        const accounts = new AccountService(new PrepaidRepository(db));
        const group = await repo.findGroup(groupCode);
        const pool = group.poolAccountId ? await accounts.require(group.poolAccountId) : undefined;
        const now = new Date();
        // The periods in the rating time zone, as the call flow opens cap accounts.
        const offset = new TimeZone(ctx.config().rating.timeZone).offsetAt(now.getTime());
        const members = [];
        for (const m of await repo.listMembers(groupCode)) {
          if (!m.caps) continue;
          const left: Record<string, string | null> = {};
          for (const h of capHolds({ payerAccountId: 0, pool: true, memberId: m.id, caps: m.caps }, now, offset)) {
            const a = await accounts.resolve(h.accountCode).catch(unlessUnknownAccount);
            left[h.period] = formatMoney(a ? a.balance - a.reserved : h.cap);
          }
          members.push({ extension: m.extension, caps: capsJson(m.caps), left });
        }
        return {
          group: group.code, periods: localPeriods(now, offset),
          pool: pool ? { account: pool.code, id: pool.id, balance: formatMoney(pool.balance), reserved: formatMoney(pool.reserved), available: formatMoney(pool.balance - pool.reserved) } : null,
          members,
        };
      });
      if (o.json) { ctx.print(json(report)); return; }
      const lines = [`group ${report.group}: pool ${report.pool ? `${report.pool.account} (#${report.pool.id}) balance ${report.pool.balance}, reserved ${report.pool.reserved}, available ${report.pool.available}` : 'none'}`];
      for (const m of report.members) lines.push(`  ${m.extension}: caps ${Object.entries(m.caps).map(([k, v]) => `${k} ${v ?? '-'}`).join(', ')}; left ${Object.entries(m.left).map(([k, v]) => `${k} ${v}`).join(', ') || '-'}`);
      ctx.print(lines.join('\n'));
    });
  registerCugCommands(group, ctx);
  registerShortCodeCommands(group, ctx);
  registerScreeningCommands(group, ctx);
}
