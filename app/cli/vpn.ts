import { InvalidArgumentError, type Command } from 'commander';
import { AppError } from '../../lib/common/errors';
import { VpnRepository, type MemberRow, type RouteRow } from '../../lib/db/vpn-repository';
import { CALL_CLASSES, Directory, normaliseNumber, resolveCall, type CallBudget, type CallClass, type CallResolutionResult, type NumberingPlan, type Subscriber, type Transport, type Trunk, type VpnGroup } from '../../lib/vpn';
import { PrepaidRepository } from '../../lib/db/prepaid-repository';
import { AccountService } from '../../lib/prepaid';
import { checkInput } from '../admin/input';
import { vpnDryRunBody } from '../admin/schemas';
import { formatMoney, type Micros } from '../../lib/common/money';
import type { CliContext } from './context';
import { formatTable } from './output';

/**
 * `tollgate vpn group|subscriber|member|resolve …`, `tollgate trunk …`, `tollgate route …`.
 * Every change is checked against the whole directory before it is committed, so the CLI cannot
 * store a plan the running servers would refuse to load.
 */

/** `vpn resolve`'s exit code when the call would be refused (1 stays for errors). */
export const EXIT_REFUSED = 3;

function integer(name: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${name} must be a whole number from ${min} to ${max}`);
    return n;
  };
}

function list(value: string): string[] {
  return value.split(/[\s,;]+/).filter((s) => s.length > 0);
}

function transport(value: string): Transport {
  if (value !== 'udp' && value !== 'tcp') throw new InvalidArgumentError('transport must be udp or tcp');
  return value;
}

function callClass(value: string): CallClass {
  if (!(CALL_CLASSES as readonly string[]).includes(value)) throw new InvalidArgumentError(`call class must be one of ${CALL_CLASSES.join(', ')}`);
  return value as CallClass;
}

function digitsOrNone(value: string): string | null {
  if (value === '' || value === 'none') return null;
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('must be digits (or "none")');
  return value;
}

function prefixDigits(value: string): string {
  const v = value.replace(/^\+/, '');
  if (v !== '' && !/^\d+$/.test(v)) throw new InvalidArgumentError('a route prefix is E.164 digits ("" for the default route)');
  return v;
}

function numberingPlan(ctx: CliContext): NumberingPlan {
  return ctx.config().numbering;
}

/** A number as people type it ("+49 30 100001", "030 100001") to E.164 digits. */
function e164(ctx: CliContext, typed: string): string {
  const result = normaliseNumber(typed, numberingPlan(ctx));
  if (!result.ok) throw new AppError('VPN_INVALID', result.refusal.reason);
  return result.value;
}

function withRepo<T>(ctx: CliContext, fn: (repo: VpnRepository) => Promise<T>): Promise<T> {
  return ctx.withDatabase((db) => fn(new VpnRepository(db)));
}

function changeValidated<T>(ctx: CliContext, fn: (repo: VpnRepository) => Promise<T>): Promise<T> {
  return withRepo(ctx, (repo) => repo.changeValidated(numberingPlan(ctx), fn));
}

function json(value: unknown): string {
  return JSON.stringify(value, null, 2);
}

/** An account named by id or code, as everywhere in the command line, to its id. */
function accountId(ctx: CliContext, ref: string): Promise<number> {
  return ctx.withDatabase(async (db) => (await new AccountService(new PrepaidRepository(db)).resolve(ref)).id);
}

function groupTable(groups: (VpnGroup & { members: number })[]): string {
  return formatTable([{ header: 'CODE' }, { header: 'NAME' }, { header: 'EXTENSIONS' }, { header: 'OFF-NET PREFIX' }, { header: 'ON-NET WITH GROUPS' }, { header: 'MEMBERS', right: true }],
    groups.map((g) => [g.code, g.name, g.extensionLength !== null ? `${g.extensionLength} digits` : `/${g.extensionPattern ?? ''}/`, g.offnetPrefix ?? '-',
      g.allowOnnetBetweenGroups ? 'yes' : 'no', String(g.members)]), 'no groups');
}

function subscriberTable(subs: Subscriber[], trunkName: (id: number) => string, accountCode: (id: number) => string): string {
  return formatTable([{ header: 'NUMBER' }, { header: 'ACCOUNT' }, { header: 'PLAN' }, { header: 'HOME TRUNK' }, { header: 'STATUS' }, { header: 'NAME' }],
    subs.map((s) => [s.e164, accountCode(s.accountId), s.plan ?? '-', s.homeTrunkId === null ? '-' : trunkName(s.homeTrunkId), s.status, s.displayName ?? '']), 'no subscribers');
}

function memberTable(members: MemberRow[]): string {
  return formatTable([{ header: 'GROUP' }, { header: 'EXTENSION' }, { header: 'NUMBER' }, { header: 'CLASS' }, { header: 'BARS OUT' }, { header: 'BARS IN' }],
    members.map((m) => [m.groupCode, m.extension, m.e164, m.callClass, m.outgoingBarring.join(',') || '-', m.incomingBarring.join(',') || '-']), 'no members');
}

function trunkTable(trunks: Trunk[]): string {
  return formatTable([{ header: 'NAME' }, { header: 'TARGET' }, { header: 'FROM' }, { header: 'PAI' }, { header: 'MEMBERS' }, { header: 'MAX CALLS', right: true }, { header: 'ENABLED' }],
    trunks.map((t) => [t.name, `${t.transport}:${t.host}:${t.port}`, t.addresses.join(',') || '-', t.paiTrusted ? 'trusted' : 'no', t.servesMembers ? 'yes' : 'no',
      t.maxCalls === null ? '-' : String(t.maxCalls), t.enabled ? 'yes' : 'no']), 'no trunks');
}

function routeTable(routes: RouteRow[]): string {
  return formatTable([{ header: 'ID', right: true }, { header: 'PREFIX' }, { header: 'TRUNK' }, { header: 'PRIORITY', right: true }, { header: 'ENABLED' }, { header: 'DESCRIPTION' }],
    routes.map((r) => [String(r.id), r.prefix === '' ? '(default)' : r.prefix, r.trunkName, String(r.priority), r.enabled ? 'yes' : 'no', r.description ?? '']), 'no routes');
}

function describeGroup(g: VpnGroup): string {
  const ext = g.extensionLength !== null ? `${g.extensionLength}-digit extensions` : `extensions /${g.extensionPattern ?? ''}/`;
  return `${g.code} (${g.name}): ${ext}, off-net prefix ${g.offnetPrefix ?? 'none'}, on-net with other groups ${g.allowOnnetBetweenGroups ? 'yes' : 'no'}`;
}

function describeTrunk(t: Trunk): string {
  return `${t.name}: ${t.transport}:${t.host}:${t.port}, from ${t.addresses.join(', ') || 'nowhere'}, PAI ${t.paiTrusted ? 'trusted' : 'not trusted'}, ${t.servesMembers ? 'serves members' : 'callers never members'}, max calls ${t.maxCalls ?? 'unlimited'}${t.enabled ? '' : ', DISABLED'}`;
}

function describeMember(m: MemberRow): string {
  const bars = [m.outgoingBarring.length ? `bars out ${m.outgoingBarring.join(',')}` : '', m.incomingBarring.length ? `bars in ${m.incomingBarring.join(',')}` : ''].filter(Boolean);
  return `${m.groupCode} ${m.extension} → ${m.e164}, class ${m.callClass}${bars.length ? ', ' + bars.join(', ') : ''}`;
}

function describeRoute(r: RouteRow): string {
  return `#${r.id} ${r.prefix === '' ? '(default)' : r.prefix} → ${r.trunkName} priority ${r.priority}${r.enabled ? '' : ' DISABLED'}${r.description ? ` (${r.description})` : ''}`;
}

/** The dry run's report: resolution, barring decision and route list. */
export function describeResolution(result: CallResolutionResult): string {
  if (!result.ok) {
    const barring = result.refusal.code.startsWith('BARRED') ? `barred: ${result.refusal.reason}` : 'not reached';
    return [`refused   ${result.refusal.status} ${result.refusal.code}: ${result.refusal.reason}`, `barring   ${barring}`].join('\n');
  }
  const r = result.resolution;
  const c = r.caller;
  const callerBits = [`account ${c.accountId ?? '-'}`, `plan ${c.plan ?? '-'}`, c.groupCode ? `group ${c.groupCode} extension ${c.extension ?? '-'}` : 'not a VPN member'];
  const calleeBits = [r.callee.subscriberId !== undefined ? 'subscriber' : 'outside number', r.callee.groupCode ? `group ${r.callee.groupCode} extension ${r.callee.extension ?? '-'}` : ''].filter(Boolean);
  return [
    `caller    ${c.e164} (${callerBits.join(', ')})`,
    `dialled   ${r.dialled}`,
    `scope     ${r.scope}${r.forcedOnnet ? ' (forced on-net: a member\'s public number)' : ''}, service ${r.service}`,
    `callee    ${r.callee.e164} (${calleeBits.join(', ')})`,
    `presented ${r.presentedCaller} (${r.presentedIsExtension ? 'extension' : 'E.164'})`,
    'barring   allowed',
    'routes    ' + r.routes.map((t, i) => `${i + 1}. ${t.name} ${t.transport}:${t.host}:${t.port}`).join('\n          '),
    `rating    service=${r.attributes.service} callerPlan=${r.attributes.callerPlan ?? '-'} vpnGroup=${r.attributes.vpnGroup ?? '-'} destination=${r.attributes.destination}`,
    `charging  ${r.charging ?? '-'}${r.charging === 'private' ? ' (the member\'s personal account pays, personal tariff)' : r.charging === 'business' ? ' (the enterprise pays)' : ''}${r.virtualOnnet ? ', virtual on-net (a group short code)' : ''}`,
    `budget    ${describeBudget(r.budget)}`,
  ].join('\n');
}

/** Who pays a business call under a group budget, and the member's caps on top (money as decimals). */
function describeBudget(b: CallBudget | undefined): string {
  if (!b) return 'none';
  const cap = (v: Micros | null) => (v === null ? '-' : formatMoney(v));
  return `${b.pool ? 'group pool' : 'member\'s own account'} (account ${b.payerAccountId}) pays; member #${b.memberId} caps per call ${cap(b.caps.perCall)}, per day ${cap(b.caps.perDay)}, per month ${cap(b.caps.perMonth)}`;
}

/** JSON of a resolution: money (the caps, micro-units in code) as decimal strings, as everywhere the CLI prints money. */
function resolutionJson(result: CallResolutionResult): string {
  return JSON.stringify(result, (_k, v: unknown) => (typeof v === 'bigint' ? formatMoney(v) : v), 2);
}

function registerGroupCommands(vpn: Command, ctx: CliContext): void {
  const group = vpn.command('group').description('VPN groups: a private numbering plan each');
  group.command('add <code>')
    .description('create a group')
    .requiredOption('--name <name>', 'display name')
    .option('--offnet-prefix <digits>', 'access prefix for outside numbers (e.g. 9); "none" to dial them directly', digitsOrNone)
    .option('--extension-length <n>', 'extensions have exactly n digits', integer('extension length', 1, 12))
    .option('--extension-pattern <regex>', 'extensions match this regular expression instead')
    .option('--onnet-between-groups', 'calls with members of other willing groups are on-net')
    .action(async (code: string, o: { name: string; offnetPrefix?: string | null; extensionLength?: number; extensionPattern?: string; onnetBetweenGroups?: boolean }) => {
      const g = await changeValidated(ctx, (repo) => repo.addGroup({
        code, name: o.name, offnetPrefix: o.offnetPrefix ?? null, extensionLength: o.extensionLength ?? (o.extensionPattern ? null : 4),
        extensionPattern: o.extensionPattern ?? null, allowOnnetBetweenGroups: o.onnetBetweenGroups ?? false,
      }));
      ctx.print(`added group ${describeGroup(g)}`);
    });
  group.command('update <code>')
    .description('change a group')
    .option('--code <code>', 'new code')
    .option('--name <name>', 'display name')
    .option('--offnet-prefix <digits>', 'access prefix, or "none"', digitsOrNone)
    .option('--extension-length <n>', 'extensions have exactly n digits (clears the pattern)', integer('extension length', 1, 12))
    .option('--extension-pattern <regex>', 'extensions match this regular expression (clears the length)')
    .option('--onnet-between-groups', 'on-net with other willing groups')
    .option('--no-onnet-between-groups', 'off-net with other groups')
    .action(async (code: string, o: { code?: string; name?: string; offnetPrefix?: string | null; extensionLength?: number; extensionPattern?: string; onnetBetweenGroups?: boolean }) => {
      const g = await changeValidated(ctx, (repo) => repo.updateGroup(code, {
        code: o.code, name: o.name, offnetPrefix: o.offnetPrefix,
        ...(o.extensionLength !== undefined ? { extensionLength: o.extensionLength, extensionPattern: null } : {}),
        ...(o.extensionPattern !== undefined ? { extensionPattern: o.extensionPattern, extensionLength: null } : {}),
        allowOnnetBetweenGroups: o.onnetBetweenGroups,
      }));
      ctx.print(`updated group ${describeGroup(g)}`);
    });
  group.command('list')
    .description('list groups')
    .option('--json', 'machine-readable output')
    .action(async (o: { json?: boolean }) => {
      const groups = await withRepo(ctx, (repo) => repo.listGroups());
      ctx.print(o.json ? json(groups) : groupTable(groups));
    });
  group.command('remove <code>')
    .description('delete a group (it must have no members)')
    .action(async (code: string) => {
      await changeValidated(ctx, (repo) => repo.removeGroup(code));
      ctx.print(`removed group ${code}`);
    });
}

function registerSubscriberCommands(vpn: Command, ctx: CliContext): void {
  const sub = vpn.command('subscriber').description('subscribers: a public number and the account that pays for its calls');
  sub.command('add <number>')
    .description('add a subscriber (the number in any usual form: +49 30 100001, 030 100001)')
    .requiredOption('--account <account>', 'account id or code: the account that pays')
    .option('--plan <code>', 'caller plan code for rating')
    .option('--home-trunk <name>', 'trunk on-net calls to this number are sent to')
    .option('--status <status>', 'active (default), suspended, …')
    .option('--display-name <name>', 'name')
    .action(async (number: string, o: { account: string; plan?: string; homeTrunk?: string; status?: string; displayName?: string }) => {
      const n = e164(ctx, number);
      const payer = await accountId(ctx, o.account);
      const s = await changeValidated(ctx, (repo) => repo.addSubscriber({ e164: n, accountId: payer, plan: o.plan ?? null, homeTrunk: o.homeTrunk ?? null, status: o.status, displayName: o.displayName ?? null }));
      ctx.print(`added subscriber ${s.e164} (id ${s.id})`);
    });
  sub.command('update <number>')
    .description('change a subscriber')
    .option('--number <number>', 'new number')
    .option('--account <account>', 'account id or code')
    .option('--plan <code>', 'caller plan code ("none" to clear)')
    .option('--home-trunk <name>', 'home trunk ("none" to clear)')
    .option('--status <status>', 'active, suspended, …')
    .option('--display-name <name>', 'name')
    .action(async (number: string, o: { number?: string; account?: string; plan?: string; homeTrunk?: string; status?: string; displayName?: string }) => {
      const payer = o.account === undefined ? undefined : await accountId(ctx, o.account);
      const none = (v: string | undefined) => (v === undefined ? undefined : v === 'none' ? null : v);
      const s = await changeValidated(ctx, (repo) => repo.updateSubscriber(e164(ctx, number), {
        e164: o.number === undefined ? undefined : e164(ctx, o.number), accountId: payer, plan: none(o.plan), homeTrunk: none(o.homeTrunk), status: o.status, displayName: o.displayName,
      }));
      ctx.print(`updated subscriber ${s.e164}`);
    });
  sub.command('list')
    .description('list subscribers')
    .option('--json', 'machine-readable output')
    .action(async (o: { json?: boolean }) => {
      const [subs, trunks, accounts] = await ctx.withDatabase(async (db) => {
        const repo = new VpnRepository(db);
        return [await repo.listSubscribers(), await repo.listTrunks(), await new AccountService(new PrepaidRepository(db)).list()] as const;
      });
      const names = new Map(trunks.map((t) => [t.id, t.name]));
      const codes = new Map(accounts.map((a) => [a.id, a.code]));
      ctx.print(o.json ? json(subs) : subscriberTable(subs, (id) => names.get(id) ?? `#${id}`, (id) => codes.get(id) ?? String(id)));
    });
  sub.command('remove <number>')
    .description('delete a subscriber (it must not be a member)')
    .action(async (number: string) => {
      const n = e164(ctx, number);
      await changeValidated(ctx, (repo) => repo.removeSubscriber(n));
      ctx.print(`removed subscriber ${n}`);
    });
}

function registerMemberCommands(vpn: Command, ctx: CliContext): void {
  const member = vpn.command('member').description('members of VPN groups');
  member.command('add <group> <extension> <number>')
    .description('make a subscriber a member of a group under an extension')
    .option('--class <class>', `call class: ${CALL_CLASSES.join(' < ')} (default national)`, callClass)
    .option('--bar-out <prefixes>', 'E.164 prefixes the member may not call (comma-separated)', list)
    .option('--bar-in <prefixes>', 'E.164 prefixes of callers the member refuses (comma-separated)', list)
    .action(async (group: string, extension: string, number: string, o: { class?: CallClass; barOut?: string[]; barIn?: string[] }) => {
      const m = await changeValidated(ctx, (repo) => repo.addMember({ groupCode: group, extension, e164: e164(ctx, number), callClass: o.class, outgoingBarring: o.barOut, incomingBarring: o.barIn }));
      ctx.print(`added member ${describeMember(m)}`);
    });
  member.command('update <group> <extension>')
    .description('change a member')
    .option('--extension <extension>', 'new extension')
    .option('--class <class>', 'call class', callClass)
    .option('--bar-out <prefixes>', 'outgoing barring prefixes ("" to clear)', list)
    .option('--bar-in <prefixes>', 'incoming barring prefixes ("" to clear)', list)
    .action(async (group: string, extension: string, o: { extension?: string; class?: CallClass; barOut?: string[]; barIn?: string[] }) => {
      const m = await changeValidated(ctx, (repo) => repo.updateMember(group, extension, { extension: o.extension, callClass: o.class, outgoingBarring: o.barOut, incomingBarring: o.barIn }));
      ctx.print(`updated member ${describeMember(m)}`);
    });
  member.command('list [group]')
    .description('list members (of one group)')
    .option('--json', 'machine-readable output')
    .action(async (group: string | undefined, o: { json?: boolean }) => {
      const members = await withRepo(ctx, (repo) => repo.listMembers(group));
      ctx.print(o.json ? json(members) : memberTable(members));
    });
  member.command('remove <group> <extension>')
    .description('end a membership (the subscriber stays)')
    .action(async (group: string, extension: string) => {
      await changeValidated(ctx, (repo) => repo.removeMember(group, extension));
      ctx.print(`removed extension ${extension} from group ${group}`);
    });
}

function registerTrunkCommands(program: Command, ctx: CliContext): void {
  const trunk = program.command('trunk').description('trunks: who may send INVITEs, and where calls are sent');
  trunk.command('add <name>')
    .description('add a trunk')
    .requiredOption('--host <host>', 'outbound target host')
    .option('--port <port>', 'outbound target port (default 5060)', integer('port', 1, 65535))
    .option('--transport <udp|tcp>', 'outbound transport (default udp)', transport)
    .option('--address <list>', 'source addresses or CIDRs allowed to send (comma-separated, IPv4/IPv6)', list)
    .option('--trust-pai', 'believe its P-Asserted-Identity')
    .option('--serves-members', 'its callers may be subscribers, charged to their accounts (the PBX side); without it a caller is never taken for a subscriber')
    .option('--max-calls <n>', 'concurrent-call limit', integer('max calls', 0, 1_000_000))
    .option('--disabled', 'add it disabled')
    .action(async (name: string, o: { host: string; port?: number; transport?: Transport; address?: string[]; trustPai?: boolean; servesMembers?: boolean; maxCalls?: number; disabled?: boolean }) => {
      const t = await changeValidated(ctx, (repo) => repo.addTrunk({ name, host: o.host, port: o.port, transport: o.transport, addresses: o.address ?? [], paiTrusted: o.trustPai ?? false, servesMembers: o.servesMembers ?? false, maxCalls: o.maxCalls ?? null, enabled: !o.disabled }));
      ctx.print(`added trunk ${describeTrunk(t)}`);
    });
  trunk.command('update <name>')
    .description('change a trunk')
    .option('--name <name>', 'new name')
    .option('--host <host>', 'outbound target host')
    .option('--port <port>', 'outbound target port', integer('port', 1, 65535))
    .option('--transport <udp|tcp>', 'outbound transport', transport)
    .option('--address <list>', 'source addresses or CIDRs (replaces the list)', list)
    .option('--trust-pai', 'believe its P-Asserted-Identity')
    .option('--no-trust-pai', 'do not believe it')
    .option('--serves-members', 'its callers may be subscribers (the PBX side)')
    .option('--no-serves-members', 'its callers are never taken for subscribers (a carrier)')
    .option('--max-calls <n>', 'concurrent-call limit ("none": unlimited)', (v: string) => (v === 'none' ? null : integer('max calls', 0, 1_000_000)(v)))
    .option('--enable', 'enable')
    .option('--disable', 'disable')
    .action(async (name: string, o: { name?: string; host?: string; port?: number; transport?: Transport; address?: string[]; trustPai?: boolean; servesMembers?: boolean; maxCalls?: number | null; enable?: boolean; disable?: boolean }) => {
      const enabled = o.enable ? true : o.disable ? false : undefined;
      const t = await changeValidated(ctx, (repo) => repo.updateTrunk(name, { name: o.name, host: o.host, port: o.port, transport: o.transport, addresses: o.address, paiTrusted: o.trustPai, servesMembers: o.servesMembers, maxCalls: o.maxCalls, enabled }));
      ctx.print(`updated trunk ${describeTrunk(t)}`);
    });
  trunk.command('list')
    .description('list trunks')
    .option('--json', 'machine-readable output')
    .action(async (o: { json?: boolean }) => {
      const trunks = await withRepo(ctx, (repo) => repo.listTrunks());
      ctx.print(o.json ? json(trunks) : trunkTable(trunks));
    });
  trunk.command('remove <name>')
    .description('delete a trunk (no route or subscriber may use it)')
    .action(async (name: string) => {
      await changeValidated(ctx, (repo) => repo.removeTrunk(name));
      ctx.print(`removed trunk ${name}`);
    });
  trunk.command('match <address>')
    .description('which trunk an INVITE from this source address belongs to')
    .option('--json', 'machine-readable output ({"address", "trunk"}: null when none)')
    .action(async (address: string, o: { json?: boolean }) => {
      const data = await withRepo(ctx, (repo) => repo.load());
      const t = Directory.build(data, numberingPlan(ctx)).matchTrunk(address);
      if (o.json) ctx.print(json({ address, trunk: t ?? null }));
      else ctx.print(t ? `${address} → trunk ${describeTrunk(t)}` : `${address} → no trunk: an INVITE from it is refused (403)`);
    });
}

function registerRouteCommands(program: Command, ctx: CliContext): void {
  const route = program.command('route').description('routes: destination prefix → trunk, with priority and fail-over');
  route.command('add <prefix> <trunk>')
    .description('add a route ("" as prefix: the default route)')
    .option('--priority <n>', 'lower is tried first among routes of one prefix (default 10)', integer('priority', 0, 1_000_000))
    .option('--description <text>', 'note')
    .option('--disabled', 'add it disabled')
    .action(async (prefix: string, trunkName: string, o: { priority?: number; description?: string; disabled?: boolean }) => {
      const r = await changeValidated(ctx, (repo) => repo.addRoute({ prefix: prefixDigits(prefix), trunkName, priority: o.priority, description: o.description ?? null, enabled: !o.disabled }));
      ctx.print(`added route ${describeRoute(r)}`);
    });
  route.command('update <id>')
    .description('change a route')
    .option('--prefix <prefix>', 'destination prefix', prefixDigits)
    .option('--trunk <name>', 'trunk')
    .option('--priority <n>', 'priority', integer('priority', 0, 1_000_000))
    .option('--description <text>', 'note')
    .option('--enable', 'enable')
    .option('--disable', 'disable')
    .action(async (id: string, o: { prefix?: string; trunk?: string; priority?: number; description?: string; enable?: boolean; disable?: boolean }) => {
      const enabled = o.enable ? true : o.disable ? false : undefined;
      await changeValidated(ctx, (repo) => repo.updateRoute(integer('route id', 1, 2 ** 31 - 1)(id), { prefix: o.prefix, trunkName: o.trunk, priority: o.priority, description: o.description, enabled }));
      ctx.print(`updated route #${id}`);
    });
  route.command('list')
    .description('list routes')
    .option('--json', 'machine-readable output')
    .action(async (o: { json?: boolean }) => {
      const routes = await withRepo(ctx, (repo) => repo.listRoutes());
      ctx.print(o.json ? json(routes) : routeTable(routes));
    });
  route.command('remove <id>')
    .description('delete a route')
    .action(async (id: string) => {
      await changeValidated(ctx, (repo) => repo.removeRoute(integer('route id', 1, 2 ** 31 - 1)(id)));
      ctx.print(`removed route #${id}`);
    });
}

export function registerVpnCommands(program: Command, ctx: CliContext): void {
  const vpn = program.command('vpn').description('VPN groups, members, subscribers, and a dry run of call resolution');
  registerGroupCommands(vpn, ctx);
  registerSubscriberCommands(vpn, ctx);
  registerMemberCommands(vpn, ctx);
  vpn.command('resolve <caller> <dialled>')
    .description(`dry run: how a call from <caller> dialling <dialled> resolves (scope, callee, barring, routes); exits ${EXIT_REFUSED} when the call would be refused`)
    .option('--json', 'machine-readable output')
    .action(async (caller: string, dialled: string, o: { json?: boolean }) => {
      checkInput(vpnDryRunBody, { caller, dialled }, { caller: '<caller>', dialled: '<dialled>' });
      const data = await withRepo(ctx, (repo) => repo.load());
      const result = resolveCall(Directory.build(data, numberingPlan(ctx)), { caller, dialled });
      ctx.print(o.json ? resolutionJson(result) : describeResolution(result));
      // A refusal is the answer, not a failure of the command; scripts still see it in the exit code.
      if (!result.ok) ctx.setExitCode?.(EXIT_REFUSED);
    });
  registerTrunkCommands(program, ctx);
  registerRouteCommands(program, ctx);
}
