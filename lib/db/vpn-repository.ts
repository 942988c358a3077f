import { QueryTypes, UniqueConstraintError, type Model, type ModelStatic, type Transaction } from 'sequelize';
import { AppError } from '../common/errors';
import { CALL_CLASSES, Directory, GROUP_STATUSES, hasCaps, type MemberCaps, type CallClass, type ClosedUserGroup, type CugMembership, type GroupStatus, type ScreeningRule, type ShortCode, type DirectoryData, type DirectorySource, type NumberingPlan, type Route, type Subscriber, type Transport, type Trunk, type VpnGroup, type VpnMember } from '../vpn';
import type { Database } from './database';
import { defineVpnModels, type VpnModels } from './models/vpn';
import { MoneyColumns } from './money-column';

export interface TrunkInput {
  name: string;
  addresses: string[];
  host: string;
  port?: number;
  transport?: Transport;
  paiTrusted?: boolean;
  /** Callers on this trunk may be subscribers (the PBX side); default false. */
  servesMembers?: boolean;
  maxCalls?: number | null;
  enabled?: boolean;
}

export interface RouteInput {
  prefix: string;
  trunkName: string;
  priority?: number;
  enabled?: boolean;
  description?: string | null;
}

export interface SubscriberInput {
  e164: string;
  accountId: number;
  plan?: string | null;
  /** Trunk name, or null for none. */
  homeTrunk?: string | null;
  status?: string;
  displayName?: string | null;
}

export interface GroupInput {
  code: string;
  name: string;
  offnetPrefix?: string | null;
  extensionLength?: number | null;
  extensionPattern?: string | null;
  allowOnnetBetweenGroups?: boolean;
  /** Dialled before a number for a private call ("*7"); null: none. */
  privatePrefix?: string | null;
  status?: GroupStatus;
}

export interface MemberInput {
  groupCode: string;
  /** The subscriber's E.164 number (the subscriber must exist). */
  e164: string;
  extension: string;
  callClass?: CallClass;
  outgoingBarring?: string[];
  incomingBarring?: string[];
  /** The member's own account for private calls; null: none. */
  personalAccountId?: number | null;
  personalPlan?: string | null;
}

export interface CugMemberInput {
  cugCode: string;
  groupCode: string;
  extension: string;
  outgoingAccess?: boolean;
  incomingAccess?: boolean;
}

export interface CugMemberRow extends CugMembership {
  cugCode: string;
  groupCode: string;
  extension: string;
}

export interface ShortCodeInput {
  groupCode: string;
  code: string;
  e164: string;
  service?: string | null;
  description?: string | null;
}

export interface ShortCodeRow extends ShortCode {
  groupCode: string;
  description: string | null;
}

export interface ScreeningInput {
  groupCode: string;
  /** The member's extension; absent: the rule is the group's, for every member. */
  extension?: string | null;
  dayType?: string | null;
  timeFrom?: string | null;
  timeTo?: string | null;
  callClass: CallClass;
  priority?: number;
}

export interface ScreeningRow extends ScreeningRule {
  groupCode: string;
  extension: string | null;
}

export interface MemberRow extends VpnMember {
  groupCode: string;
  e164: string;
}

export interface RouteRow extends Route {
  trunkName: string;
  description: string | null;
}

type Row = Record<string, unknown>;
const TABLES = ['trunks', 'routes', 'subscribers', 'vpn_groups', 'vpn_members', 'vpn_cugs', 'vpn_cug_members', 'vpn_short_codes', 'vpn_screening_rules'] as const;
const IMPORT_CHUNK = 1000;

/** "a, b c" → ['a', 'b', 'c']: lists are stored as comma- or space-separated text. */
export function splitList(text: unknown): string[] {
  if (text === null || text === undefined) return [];
  return String(text).split(/[\s,;]+/).filter((s) => s.length > 0);
}

function joinList(items: readonly string[] | undefined): string | null {
  return items && items.length > 0 ? items.join(',') : null;
}

function bool(v: unknown): boolean {
  return v === true || v === 1 || v === '1' || v === 'true';
}

function intOrNull(v: unknown): number | null {
  return v === null || v === undefined ? null : Number(v);
}

function strOrNull(v: unknown): string | null {
  return v === null || v === undefined ? null : String(v);
}

function toTrunk(r: Row): Trunk {
  return {
    id: Number(r.id), name: String(r.name), addresses: splitList(r.addresses), paiTrusted: bool(r.pai_trusted), servesMembers: bool(r.serves_members),
    host: String(r.host), port: Number(r.port), transport: String(r.transport) as Transport, maxCalls: intOrNull(r.max_calls), enabled: bool(r.enabled),
  };
}

function toRoute(r: Row): Route {
  return { id: Number(r.id), prefix: String(r.prefix ?? ''), trunkId: Number(r.trunk_id), priority: Number(r.priority), enabled: bool(r.enabled) };
}

function toSubscriber(r: Row): Subscriber {
  return {
    id: Number(r.id), e164: String(r.e164), accountId: Number(r.account_id), plan: strOrNull(r.plan), homeTrunkId: intOrNull(r.home_trunk_id),
    status: String(r.status), displayName: strOrNull(r.display_name),
  };
}

function toGroup(r: Row): VpnGroup {
  return {
    id: Number(r.id), code: String(r.code), name: String(r.name), offnetPrefix: strOrNull(r.offnet_prefix) || null,
    extensionLength: intOrNull(r.extension_length), extensionPattern: strOrNull(r.extension_pattern) || null,
    allowOnnetBetweenGroups: bool(r.allow_onnet_between_groups),
    // The enterprise fields only when set, so a plain group reads back as it was written.
    ...optional({ privatePrefix: strOrNull(r.private_prefix) || null, poolAccountId: intOrNull(r.pool_account_id) }),
    ...(r.status !== undefined && r.status !== null && r.status !== 'active' ? { status: String(r.status) as GroupStatus } : {}),
  };
}

/** The entries whose value is not null. */
function optional<T extends Record<string, unknown>>(fields: T): Partial<T> {
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== null)) as Partial<T>;
}

function toMember(r: Row): VpnMember {
  return {
    id: Number(r.id), groupId: Number(r.group_id), subscriberId: Number(r.subscriber_id), extension: String(r.extension),
    callClass: String(r.call_class) as CallClass, outgoingBarring: splitList(r.outgoing_barring), incomingBarring: splitList(r.incoming_barring),
    ...optional({ personalAccountId: intOrNull(r.personal_account_id), personalPlan: strOrNull(r.personal_plan) }),
  };
}

function toCug(r: Row): ClosedUserGroup {
  return { id: Number(r.id), code: String(r.code), name: String(r.name) };
}

function toCugMember(r: Row): CugMembership {
  return { id: Number(r.id), cugId: Number(r.cug_id), memberId: Number(r.member_id), outgoingAccess: bool(r.outgoing_access), incomingAccess: bool(r.incoming_access) };
}

function toShortCode(r: Row): ShortCode {
  return { id: Number(r.id), groupId: Number(r.group_id), code: String(r.code), e164: String(r.e164), service: strOrNull(r.service) };
}

function toScreening(r: Row): ScreeningRule {
  return {
    id: Number(r.id), groupId: Number(r.group_id), memberId: intOrNull(r.member_id), dayType: strOrNull(r.day_type),
    timeFrom: strOrNull(r.time_from), timeTo: strOrNull(r.time_to), callClass: String(r.call_class) as CallClass, priority: Number(r.priority),
  };
}

function groupStatus(status: string): GroupStatus {
  if (!GROUP_STATUSES.includes(status as GroupStatus)) throw new AppError('VPN_INVALID', `group status must be one of ${GROUP_STATUSES.join(', ')}`);
  return status as GroupStatus;
}

function notFound(what: string): AppError {
  return new AppError('VPN_NOT_FOUND', `${what} does not exist`);
}

/**
 * Trunks, routes, subscribers, VPN groups and members in the database. Reads return plain typed
 * objects; `load` reads the whole directory in one transaction; `version` is a cheap fingerprint
 * for the reloader. Writes made through `changeValidated` are checked against the whole directory
 * before they commit.
 */
export class VpnRepository implements DirectorySource {
  private readonly models: VpnModels;
  private readonly money: MoneyColumns;

  constructor(private readonly db: Database, private readonly transaction?: Transaction) {
    this.models = defineVpnModels(db.sequelize);
    this.money = new MoneyColumns(db.dialect);
  }

  /** A member row's caps, read exactly (money columns). */
  private caps(r: Row): MemberCaps | undefined {
    const at = (column: string) => ({ table: 'vpn_members', column, id: r.id });
    const caps: MemberCaps = {
      perCall: this.money.parseOrNull(r.cap_per_call, at('cap_per_call')), perDay: this.money.parseOrNull(r.cap_per_day, at('cap_per_day')),
      perMonth: this.money.parseOrNull(r.cap_per_month, at('cap_per_month')),
    };
    return hasCaps(caps) ? caps : undefined;
  }

  private memberColumns(prefix = ''): string {
    return ['cap_per_call', 'cap_per_day', 'cap_per_month'].map((c) => this.money.read(`${prefix}${c}`, c)).join(', ');
  }

  private withCaps<T extends VpnMember>(member: T, r: Row): T {
    const caps = this.caps(r);
    return caps ? { ...member, caps } : member;
  }

  private async select(sql: string, bind: unknown[] = []): Promise<Row[]> {
    return this.db.sequelize.query<Row>(sql, { type: QueryTypes.SELECT, bind, transaction: this.transaction });
  }

  /**
   * Changes whenever a row of a VPN table does. MySQL/MariaDB: CHECKSUM TABLE (exact, a scan of
   * a few milliseconds per 10,000 rows). SQLite: each VPN table's row count, highest id and latest
   * updated_at (every write through Tollgate sets it); not the data version or the change count,
   * which the application's own heartbeat and ledger writes move every few seconds.
   */
  async version(): Promise<string> {
    if (this.db.dialect === 'mysql') {
      const rows = await this.select(`CHECKSUM TABLE ${TABLES.join(', ')}`);
      return rows.map((r) => `${String(r.Checksum)}`).join(':');
    }
    const [row] = await this.select(`SELECT ${TABLES.map((t) => `(SELECT COUNT(*) || '/' || IFNULL(MAX(id), '') || '/' || IFNULL(MAX(updated_at), '') FROM ${t})`).join(" || ':' || ")} AS tables`);
    return String(row?.tables);
  }

  /** The whole directory, read in one transaction so the tables agree with each other. */
  async load(): Promise<DirectoryData> {
    if (this.transaction) return this.loadRows();
    return this.db.sequelize.transaction(async (tx) => new VpnRepository(this.db, tx).loadRows());
  }

  private async loadRows(): Promise<DirectoryData> {
    const trunks = (await this.select('SELECT * FROM trunks ORDER BY id')).map(toTrunk);
    const routes = (await this.select('SELECT * FROM routes ORDER BY id')).map(toRoute);
    const subscribers = (await this.select('SELECT id, e164, account_id, plan, home_trunk_id, status, display_name FROM subscribers ORDER BY id')).map(toSubscriber);
    const groups = (await this.select('SELECT * FROM vpn_groups ORDER BY id')).map(toGroup);
    const members = (await this.select(`SELECT id, group_id, subscriber_id, extension, call_class, outgoing_barring, incoming_barring, personal_account_id, personal_plan, ${this.memberColumns()} FROM vpn_members ORDER BY id`)).map((r) => this.withCaps(toMember(r), r));
    const cugs = (await this.select('SELECT id, code, name FROM vpn_cugs ORDER BY id')).map(toCug);
    const cugMembers = (await this.select('SELECT id, cug_id, member_id, outgoing_access, incoming_access FROM vpn_cug_members ORDER BY id')).map(toCugMember);
    const shortCodes = (await this.select('SELECT id, group_id, code, e164, service FROM vpn_short_codes ORDER BY id')).map(toShortCode);
    const screening = (await this.select('SELECT id, group_id, member_id, day_type, time_from, time_to, call_class, priority FROM vpn_screening_rules ORDER BY id')).map(toScreening);
    const data: DirectoryData = { trunks, routes, subscribers, groups, members };
    // Present only when there are rows, so a plain directory reads back as it was written.
    if (cugs.length > 0) data.cugs = cugs;
    if (cugMembers.length > 0) data.cugMembers = cugMembers;
    if (shortCodes.length > 0) data.shortCodes = shortCodes;
    if (screening.length > 0) data.screening = screening;
    return data;
  }

  async withTransaction<T>(fn: (repo: VpnRepository) => Promise<T>): Promise<T> {
    if (this.transaction) return fn(this);
    return this.db.sequelize.transaction(async (tx) => fn(new VpnRepository(this.db, tx)));
  }

  /**
   * Runs the writes in one transaction, then loads and validates the whole directory inside it:
   * an edit that would make the directory invalid is rolled back and thrown as a DirectoryError.
   */
  async changeValidated<T>(plan: NumberingPlan, fn: (repo: VpnRepository) => Promise<T>): Promise<T> {
    return this.withTransaction(async (repo) => {
      const result = await fn(repo);
      Directory.build(await repo.loadRows(), plan);
      return result;
    });
  }

  private async write<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof UniqueConstraintError) throw new AppError('VPN_CONFLICT', `${what}: already exists`, {}, { cause: err });
      throw err;
    }
  }

  private opts(): { transaction?: Transaction } {
    return this.transaction ? { transaction: this.transaction } : {};
  }

  private async one(model: ModelStatic<Model>, where: Row, what: string): Promise<Row> {
    const row = await model.findOne({ where, raw: true, ...this.opts() });
    if (!row) throw notFound(what);
    return row as unknown as Row;
  }

  // Trunks

  async listTrunks(): Promise<Trunk[]> {
    return (await this.select('SELECT * FROM trunks ORDER BY name')).map(toTrunk);
  }

  async findTrunk(name: string): Promise<Trunk> {
    return toTrunk(await this.one(this.models.Trunk, { name }, `trunk ${JSON.stringify(name)}`));
  }

  async addTrunk(input: TrunkInput): Promise<Trunk> {
    await this.write(`trunk ${JSON.stringify(input.name)}`, () => this.models.Trunk.create({
      name: input.name, addresses: input.addresses.join(','), host: input.host, port: input.port ?? 5060, transport: input.transport ?? 'udp',
      pai_trusted: input.paiTrusted ?? false, serves_members: input.servesMembers ?? false, max_calls: input.maxCalls ?? null, enabled: input.enabled ?? true,
    }, this.opts()));
    return this.findTrunk(input.name);
  }

  async updateTrunk(name: string, patch: Partial<TrunkInput>): Promise<Trunk> {
    const current = await this.findTrunk(name);
    const values: Row = {};
    if (patch.name !== undefined) values.name = patch.name;
    if (patch.addresses !== undefined) values.addresses = patch.addresses.join(',');
    if (patch.host !== undefined) values.host = patch.host;
    if (patch.port !== undefined) values.port = patch.port;
    if (patch.transport !== undefined) values.transport = patch.transport;
    if (patch.paiTrusted !== undefined) values.pai_trusted = patch.paiTrusted;
    if (patch.servesMembers !== undefined) values.serves_members = patch.servesMembers;
    if (patch.maxCalls !== undefined) values.max_calls = patch.maxCalls;
    if (patch.enabled !== undefined) values.enabled = patch.enabled;
    await this.write(`trunk ${JSON.stringify(patch.name ?? name)}`, () => this.models.Trunk.update(values, { where: { id: current.id }, ...this.opts() }));
    return this.findTrunk(patch.name ?? name);
  }

  /** Refused while routes or subscribers still point at the trunk. */
  async removeTrunk(name: string): Promise<void> {
    const trunk = await this.findTrunk(name);
    const [routes] = await this.select('SELECT COUNT(*) AS n FROM routes WHERE trunk_id = $1', [trunk.id]);
    const [subs] = await this.select('SELECT COUNT(*) AS n FROM subscribers WHERE home_trunk_id = $1', [trunk.id]);
    if (Number(routes?.n) > 0 || Number(subs?.n) > 0) {
      throw new AppError('VPN_IN_USE', `trunk ${JSON.stringify(name)} is used by ${Number(routes?.n)} route(s) and ${Number(subs?.n)} subscriber(s)`);
    }
    await this.models.Trunk.destroy({ where: { id: trunk.id }, ...this.opts() });
  }

  // Routes

  async listRoutes(): Promise<RouteRow[]> {
    const rows = await this.select('SELECT r.*, t.name AS trunk_name FROM routes r LEFT JOIN trunks t ON t.id = r.trunk_id ORDER BY r.prefix, r.priority, r.id');
    return rows.map((r) => ({ ...toRoute(r), trunkName: String(r.trunk_name ?? `#${String(r.trunk_id)}`), description: strOrNull(r.description) }));
  }

  async addRoute(input: RouteInput): Promise<RouteRow> {
    const trunk = await this.findTrunk(input.trunkName);
    const created = await this.models.Route.create({
      prefix: input.prefix, trunk_id: trunk.id, priority: input.priority ?? 10, enabled: input.enabled ?? true, description: input.description ?? null,
    }, this.opts());
    const id = Number(created.get('id'));
    return { ...toRoute(await this.one(this.models.Route, { id }, `route ${id}`)), trunkName: trunk.name, description: input.description ?? null };
  }

  async updateRoute(id: number, patch: Partial<RouteInput>): Promise<void> {
    await this.one(this.models.Route, { id }, `route ${id}`);
    const values: Row = {};
    if (patch.prefix !== undefined) values.prefix = patch.prefix;
    if (patch.trunkName !== undefined) values.trunk_id = (await this.findTrunk(patch.trunkName)).id;
    if (patch.priority !== undefined) values.priority = patch.priority;
    if (patch.enabled !== undefined) values.enabled = patch.enabled;
    if (patch.description !== undefined) values.description = patch.description;
    await this.models.Route.update(values, { where: { id }, ...this.opts() });
  }

  async removeRoute(id: number): Promise<void> {
    const removed = await this.models.Route.destroy({ where: { id }, ...this.opts() });
    if (removed === 0) throw notFound(`route ${id}`);
  }

  // Subscribers

  async listSubscribers(): Promise<Subscriber[]> {
    return (await this.select('SELECT * FROM subscribers ORDER BY e164')).map(toSubscriber);
  }

  async findSubscriber(e164: string): Promise<Subscriber> {
    return toSubscriber(await this.one(this.models.Subscriber, { e164 }, `subscriber ${e164}`));
  }

  private async trunkIdOrNull(name: string | null | undefined): Promise<number | null> {
    return name === null || name === undefined ? null : (await this.findTrunk(name)).id;
  }

  async addSubscriber(input: SubscriberInput): Promise<Subscriber> {
    const homeTrunkId = await this.trunkIdOrNull(input.homeTrunk);
    await this.write(`subscriber ${input.e164}`, () => this.models.Subscriber.create({
      e164: input.e164, account_id: input.accountId, plan: input.plan ?? null, home_trunk_id: homeTrunkId,
      status: input.status ?? 'active', display_name: input.displayName ?? null,
    }, this.opts()));
    return this.findSubscriber(input.e164);
  }

  async updateSubscriber(e164: string, patch: Partial<SubscriberInput>): Promise<Subscriber> {
    const current = await this.findSubscriber(e164);
    const values: Row = {};
    if (patch.e164 !== undefined) values.e164 = patch.e164;
    if (patch.accountId !== undefined) values.account_id = patch.accountId;
    if (patch.plan !== undefined) values.plan = patch.plan;
    if (patch.homeTrunk !== undefined) values.home_trunk_id = await this.trunkIdOrNull(patch.homeTrunk);
    if (patch.status !== undefined) values.status = patch.status;
    if (patch.displayName !== undefined) values.display_name = patch.displayName;
    await this.write(`subscriber ${patch.e164 ?? e164}`, () => this.models.Subscriber.update(values, { where: { id: current.id }, ...this.opts() }));
    return this.findSubscriber(patch.e164 ?? e164);
  }

  /** Refused while the subscriber is a VPN member. */
  async removeSubscriber(e164: string): Promise<void> {
    const sub = await this.findSubscriber(e164);
    const [m] = await this.select('SELECT COUNT(*) AS n FROM vpn_members WHERE subscriber_id = $1', [sub.id]);
    if (Number(m?.n) > 0) throw new AppError('VPN_IN_USE', `subscriber ${e164} is a VPN member; remove the membership first`);
    await this.models.Subscriber.destroy({ where: { id: sub.id }, ...this.opts() });
  }

  // Groups

  async listGroups(): Promise<(VpnGroup & { members: number })[]> {
    const rows = await this.select('SELECT g.*, (SELECT COUNT(*) FROM vpn_members m WHERE m.group_id = g.id) AS member_count FROM vpn_groups g ORDER BY g.code');
    return rows.map((r) => ({ ...toGroup(r), members: Number(r.member_count) }));
  }

  async findGroup(code: string): Promise<VpnGroup> {
    return toGroup(await this.one(this.models.VpnGroup, { code }, `VPN group ${JSON.stringify(code)}`));
  }

  async addGroup(input: GroupInput): Promise<VpnGroup> {
    await this.write(`VPN group ${JSON.stringify(input.code)}`, () => this.models.VpnGroup.create({
      code: input.code, name: input.name, offnet_prefix: input.offnetPrefix ?? null, extension_length: input.extensionLength ?? null,
      extension_pattern: input.extensionPattern ?? null, allow_onnet_between_groups: input.allowOnnetBetweenGroups ?? false,
      private_prefix: input.privatePrefix ?? null, status: groupStatus(input.status ?? 'active'),
    }, this.opts()));
    return this.findGroup(input.code);
  }

  async updateGroup(code: string, patch: Partial<GroupInput>): Promise<VpnGroup> {
    const current = await this.findGroup(code);
    const values: Row = {};
    if (patch.code !== undefined) values.code = patch.code;
    if (patch.name !== undefined) values.name = patch.name;
    if (patch.offnetPrefix !== undefined) values.offnet_prefix = patch.offnetPrefix;
    if (patch.extensionLength !== undefined) values.extension_length = patch.extensionLength;
    if (patch.extensionPattern !== undefined) values.extension_pattern = patch.extensionPattern;
    if (patch.allowOnnetBetweenGroups !== undefined) values.allow_onnet_between_groups = patch.allowOnnetBetweenGroups;
    if (patch.privatePrefix !== undefined) values.private_prefix = patch.privatePrefix;
    if (patch.status !== undefined) values.status = groupStatus(patch.status);
    await this.write(`VPN group ${JSON.stringify(patch.code ?? code)}`, () => this.models.VpnGroup.update(values, { where: { id: current.id }, ...this.opts() }));
    return this.findGroup(patch.code ?? code);
  }

  /** Refused while the group has members; its short codes and screening rules go with it. */
  async removeGroup(code: string): Promise<void> {
    const group = await this.findGroup(code);
    const [m] = await this.select('SELECT COUNT(*) AS n FROM vpn_members WHERE group_id = $1', [group.id]);
    if (Number(m?.n) > 0) throw new AppError('VPN_IN_USE', `VPN group ${JSON.stringify(code)} has ${Number(m?.n)} member(s)`);
    await this.models.VpnShortCode.destroy({ where: { group_id: group.id }, ...this.opts() });
    await this.models.VpnScreeningRule.destroy({ where: { group_id: group.id }, ...this.opts() });
    await this.models.VpnGroup.destroy({ where: { id: group.id }, ...this.opts() });
  }

  // Members

  async listMembers(groupCode?: string, extension?: string): Promise<MemberRow[]> {
    const sql = `SELECT m.*, ${this.memberColumns('m.')}, g.code AS group_code, s.e164 AS e164 FROM vpn_members m JOIN vpn_groups g ON g.id = m.group_id JOIN subscribers s ON s.id = m.subscriber_id`
      + (groupCode === undefined ? '' : ' WHERE g.code = $1') + (groupCode !== undefined && extension !== undefined ? ' AND m.extension = $2' : '') + ' ORDER BY g.code, m.extension';
    const rows = await this.select(sql, groupCode === undefined ? [] : extension === undefined ? [groupCode] : [groupCode, extension]);
    return rows.map((r) => this.withCaps({ ...toMember(r), groupCode: String(r.group_code), e164: String(r.e164) }, r));
  }

  async findMember(groupCode: string, extension: string): Promise<MemberRow> {
    await this.findGroup(groupCode);
    const [found] = await this.listMembers(groupCode, extension);
    if (!found) throw notFound(`extension ${extension} in group ${JSON.stringify(groupCode)}`);
    return found;
  }

  /** The group's pool account (null: none) and its members' caps: the group budget. */
  async setPool(groupCode: string, accountId: number | null): Promise<VpnGroup> {
    const group = await this.findGroup(groupCode);
    await this.models.VpnGroup.update({ pool_account_id: accountId }, { where: { id: group.id }, ...this.opts() });
    return this.findGroup(groupCode);
  }

  /** Sets the caps given (null clears one; absent leaves it). */
  async setCaps(groupCode: string, extension: string, caps: Partial<MemberCaps>): Promise<MemberRow> {
    const member = await this.findMember(groupCode, extension);
    const sets: string[] = [];
    const bind: unknown[] = [];
    for (const [key, column] of [['perCall', 'cap_per_call'], ['perDay', 'cap_per_day'], ['perMonth', 'cap_per_month']] as const) {
      const v = caps[key];
      if (v === undefined) continue;
      if (v !== null && v <= 0n) throw new AppError('VPN_INVALID', `a cap must be more than zero (${column})`);
      bind.push(this.money.bindOrNull(v, column));
      sets.push(`${column} = ${v === null ? `$${bind.length}` : this.money.param(bind.length)}`);
    }
    if (sets.length > 0) {
      bind.push(member.id);
      await this.db.sequelize.query(`UPDATE vpn_members SET ${sets.join(', ')} WHERE id = $${bind.length}`, { bind, transaction: this.transaction });
    }
    return this.findMember(groupCode, extension);
  }

  async addMember(input: MemberInput): Promise<MemberRow> {
    const group = await this.findGroup(input.groupCode);
    const sub = await this.findSubscriber(input.e164);
    if (input.callClass !== undefined && !CALL_CLASSES.includes(input.callClass)) throw new AppError('VPN_INVALID', `call class must be one of ${CALL_CLASSES.join(', ')}`);
    await this.write(`extension ${input.extension} in group ${JSON.stringify(input.groupCode)} or membership of ${input.e164}`, () => this.models.VpnMember.create({
      group_id: group.id, subscriber_id: sub.id, extension: input.extension, call_class: input.callClass ?? 'national',
      outgoing_barring: joinList(input.outgoingBarring), incoming_barring: joinList(input.incomingBarring),
      personal_account_id: input.personalAccountId ?? null, personal_plan: input.personalPlan ?? null,
    }, this.opts()));
    return this.findMember(input.groupCode, input.extension);
  }

  async updateMember(groupCode: string, extension: string, patch: Partial<Omit<MemberInput, 'groupCode' | 'e164'>>): Promise<MemberRow> {
    const current = await this.findMember(groupCode, extension);
    const values: Row = {};
    if (patch.extension !== undefined) values.extension = patch.extension;
    if (patch.callClass !== undefined) values.call_class = patch.callClass;
    if (patch.outgoingBarring !== undefined) values.outgoing_barring = joinList(patch.outgoingBarring);
    if (patch.incomingBarring !== undefined) values.incoming_barring = joinList(patch.incomingBarring);
    if (patch.personalAccountId !== undefined) values.personal_account_id = patch.personalAccountId;
    if (patch.personalPlan !== undefined) values.personal_plan = patch.personalPlan;
    await this.write(`extension ${patch.extension ?? extension} in group ${JSON.stringify(groupCode)}`, () => this.models.VpnMember.update(values, { where: { id: current.id }, ...this.opts() }));
    return this.findMember(groupCode, patch.extension ?? extension);
  }

  /** Its CUG memberships and own screening rules go with it. */
  async removeMember(groupCode: string, extension: string): Promise<void> {
    const current = await this.findMember(groupCode, extension);
    await this.models.VpnCugMember.destroy({ where: { member_id: current.id }, ...this.opts() });
    await this.models.VpnScreeningRule.destroy({ where: { member_id: current.id }, ...this.opts() });
    await this.models.VpnMember.destroy({ where: { id: current.id }, ...this.opts() });
  }

  // Closed user groups

  async listCugs(): Promise<(ClosedUserGroup & { members: number })[]> {
    const rows = await this.select('SELECT c.*, (SELECT COUNT(*) FROM vpn_cug_members m WHERE m.cug_id = c.id) AS member_count FROM vpn_cugs c ORDER BY c.code');
    return rows.map((r) => ({ ...toCug(r), members: Number(r.member_count) }));
  }

  async findCug(code: string): Promise<ClosedUserGroup> {
    return toCug(await this.one(this.models.VpnCug, { code }, `closed user group ${JSON.stringify(code)}`));
  }

  async addCug(code: string, name: string): Promise<ClosedUserGroup> {
    await this.write(`closed user group ${JSON.stringify(code)}`, () => this.models.VpnCug.create({ code, name }, this.opts()));
    return this.findCug(code);
  }

  /** Its memberships go with it. */
  async removeCug(code: string): Promise<void> {
    const cug = await this.findCug(code);
    await this.models.VpnCugMember.destroy({ where: { cug_id: cug.id }, ...this.opts() });
    await this.models.VpnCug.destroy({ where: { id: cug.id }, ...this.opts() });
  }

  async listCugMembers(cugCode?: string): Promise<CugMemberRow[]> {
    const sql = 'SELECT cm.*, c.code AS cug_code, g.code AS group_code, m.extension AS extension FROM vpn_cug_members cm JOIN vpn_cugs c ON c.id = cm.cug_id'
      + ' JOIN vpn_members m ON m.id = cm.member_id JOIN vpn_groups g ON g.id = m.group_id'
      + (cugCode === undefined ? '' : ' WHERE c.code = $1') + ' ORDER BY c.code, g.code, m.extension';
    const rows = await this.select(sql, cugCode === undefined ? [] : [cugCode]);
    return rows.map((r) => ({ ...toCugMember(r), cugCode: String(r.cug_code), groupCode: String(r.group_code), extension: String(r.extension) }));
  }

  /** Adds the member to the CUG, or changes its access when it is in it already. */
  async putCugMember(input: CugMemberInput): Promise<CugMemberRow> {
    const cug = await this.findCug(input.cugCode);
    const member = await this.findMember(input.groupCode, input.extension);
    const existing = await this.models.VpnCugMember.findOne({ where: { cug_id: cug.id, member_id: member.id }, raw: true, ...this.opts() }) as unknown as Row | null;
    if (existing) {
      const values: Row = {};
      if (input.outgoingAccess !== undefined) values.outgoing_access = input.outgoingAccess;
      if (input.incomingAccess !== undefined) values.incoming_access = input.incomingAccess;
      await this.models.VpnCugMember.update(values, { where: { id: Number(existing.id) }, ...this.opts() });
    } else {
      await this.write(`membership of ${input.extension} in CUG ${input.cugCode}`, () => this.models.VpnCugMember.create({
        cug_id: cug.id, member_id: member.id, outgoing_access: input.outgoingAccess ?? false, incoming_access: input.incomingAccess ?? false,
      }, this.opts()));
    }
    const row = (await this.listCugMembers(input.cugCode)).find((r) => r.memberId === member.id);
    if (!row) throw notFound(`membership of ${input.extension} in CUG ${input.cugCode}`);
    return row;
  }

  async removeCugMember(cugCode: string, groupCode: string, extension: string): Promise<void> {
    const cug = await this.findCug(cugCode);
    const member = await this.findMember(groupCode, extension);
    const removed = await this.models.VpnCugMember.destroy({ where: { cug_id: cug.id, member_id: member.id }, ...this.opts() });
    if (removed === 0) throw notFound(`membership of ${extension} (${groupCode}) in CUG ${cugCode}`);
  }

  // Short codes (virtual on-net)

  async listShortCodes(groupCode?: string): Promise<ShortCodeRow[]> {
    const sql = 'SELECT sc.*, g.code AS group_code FROM vpn_short_codes sc JOIN vpn_groups g ON g.id = sc.group_id'
      + (groupCode === undefined ? '' : ' WHERE g.code = $1') + ' ORDER BY g.code, sc.code';
    const rows = await this.select(sql, groupCode === undefined ? [] : [groupCode]);
    return rows.map((r) => ({ ...toShortCode(r), groupCode: String(r.group_code), description: strOrNull(r.description) }));
  }

  async addShortCode(input: ShortCodeInput): Promise<ShortCodeRow> {
    const group = await this.findGroup(input.groupCode);
    await this.write(`short code ${input.code} in group ${JSON.stringify(input.groupCode)}`, () => this.models.VpnShortCode.create({
      group_id: group.id, code: input.code, e164: input.e164, service: input.service ?? null, description: input.description ?? null,
    }, this.opts()));
    return (await this.listShortCodes(input.groupCode)).find((r) => r.code === input.code)!;
  }

  async removeShortCode(groupCode: string, code: string): Promise<void> {
    const group = await this.findGroup(groupCode);
    const removed = await this.models.VpnShortCode.destroy({ where: { group_id: group.id, code }, ...this.opts() });
    if (removed === 0) throw notFound(`short code ${code} in group ${JSON.stringify(groupCode)}`);
  }

  // Time-based screening

  async listScreening(groupCode?: string): Promise<ScreeningRow[]> {
    const sql = 'SELECT r.*, g.code AS group_code, m.extension AS extension FROM vpn_screening_rules r JOIN vpn_groups g ON g.id = r.group_id'
      + ' LEFT JOIN vpn_members m ON m.id = r.member_id' + (groupCode === undefined ? '' : ' WHERE g.code = $1') + ' ORDER BY g.code, r.priority, r.id';
    const rows = await this.select(sql, groupCode === undefined ? [] : [groupCode]);
    return rows.map((r) => ({ ...toScreening(r), groupCode: String(r.group_code), extension: strOrNull(r.extension) }));
  }

  async addScreeningRule(input: ScreeningInput): Promise<ScreeningRow> {
    const group = await this.findGroup(input.groupCode);
    const memberId = input.extension ? (await this.findMember(input.groupCode, input.extension)).id : null;
    if (!CALL_CLASSES.includes(input.callClass)) throw new AppError('VPN_INVALID', `call class must be one of ${CALL_CLASSES.join(', ')}`);
    const created = await this.models.VpnScreeningRule.create({
      group_id: group.id, member_id: memberId, day_type: input.dayType ?? null, time_from: input.timeFrom ?? null, time_to: input.timeTo ?? null,
      call_class: input.callClass, priority: input.priority ?? 0,
    }, this.opts());
    const id = Number(created.get('id'));
    return (await this.listScreening(input.groupCode)).find((r) => r.id === id)!;
  }

  async removeScreeningRule(id: number): Promise<void> {
    const removed = await this.models.VpnScreeningRule.destroy({ where: { id }, ...this.opts() });
    if (removed === 0) throw notFound(`screening rule ${id}`);
  }

  /**
   * Bulk insert of directory rows with their ids (for seeding, tests and benchmarks), in chunks.
   * Not validated: load and build a Directory to check it.
   */
  async importRows(data: DirectoryData): Promise<void> {
    const chunks = async (model: ModelStatic<Model>, rows: Row[]) => {
      for (let i = 0; i < rows.length; i += IMPORT_CHUNK) await model.bulkCreate(rows.slice(i, i + IMPORT_CHUNK), this.opts());
    };
    await chunks(this.models.Trunk, data.trunks.map((t) => ({
      id: t.id, name: t.name, addresses: t.addresses.join(','), pai_trusted: t.paiTrusted, serves_members: t.servesMembers, host: t.host, port: t.port, transport: t.transport, max_calls: t.maxCalls, enabled: t.enabled,
    })));
    await chunks(this.models.Route, data.routes.map((r) => ({ id: r.id, prefix: r.prefix, trunk_id: r.trunkId, priority: r.priority, enabled: r.enabled })));
    await chunks(this.models.Subscriber, data.subscribers.map((s) => ({
      id: s.id, e164: s.e164, account_id: s.accountId, plan: s.plan, home_trunk_id: s.homeTrunkId, status: s.status, display_name: s.displayName,
    })));
    await chunks(this.models.VpnGroup, data.groups.map((g) => ({
      id: g.id, code: g.code, name: g.name, offnet_prefix: g.offnetPrefix, extension_length: g.extensionLength, extension_pattern: g.extensionPattern,
      allow_onnet_between_groups: g.allowOnnetBetweenGroups, private_prefix: g.privatePrefix ?? null, status: g.status ?? 'active', pool_account_id: g.poolAccountId ?? null,
    })));
    await chunks(this.models.VpnMember, data.members.map((m) => ({
      id: m.id, group_id: m.groupId, subscriber_id: m.subscriberId, extension: m.extension, call_class: m.callClass,
      outgoing_barring: joinList(m.outgoingBarring), incoming_barring: joinList(m.incomingBarring),
      personal_account_id: m.personalAccountId ?? null, personal_plan: m.personalPlan ?? null,
    })));
    await chunks(this.models.VpnCug, (data.cugs ?? []).map((c) => ({ id: c.id, code: c.code, name: c.name })));
    await chunks(this.models.VpnCugMember, (data.cugMembers ?? []).map((m) => ({
      id: m.id, cug_id: m.cugId, member_id: m.memberId, outgoing_access: m.outgoingAccess, incoming_access: m.incomingAccess,
    })));
    await chunks(this.models.VpnShortCode, (data.shortCodes ?? []).map((c) => ({ id: c.id, group_id: c.groupId, code: c.code, e164: c.e164, service: c.service })));
    await chunks(this.models.VpnScreeningRule, (data.screening ?? []).map((r) => ({
      id: r.id, group_id: r.groupId, member_id: r.memberId, day_type: r.dayType, time_from: r.timeFrom, time_to: r.timeTo, call_class: r.callClass, priority: r.priority,
    })));
  }
}
