import { AppError } from '../common/errors';
import { AddressTable, parseCidr } from './address';
import { E164_MAX_DIGITS } from './numbering';
import { RouteTable, trunkTarget } from './routing';
import { isValidPrivatePrefix } from './private-call';
import { parseMinuteOfDay, screeningOrder } from './screening';
import {
  CALL_CLASSES,
  GROUP_STATUSES,
  type ClosedUserGroup,
  type CugMembership,
  type DirectoryData,
  type ScreeningRule,
  type ShortCode,
  type NumberingPlan,
  type Subscriber,
  type Trunk,
  type TrunkTarget,
  type VpnGroup,
  type VpnMember,
} from './types';

export interface GroupEntry {
  group: VpnGroup;
  /** Extension → member of this group. */
  extensions: Map<string, MemberEntry>;
  /** Whole-string matcher for extension-pattern groups. */
  pattern: RegExp | null;
  /** Dialled digits shorter than this are incomplete (484). */
  minExtensionLength: number;
  maxExtensionLength: number;
  /** Short code → the outside number it stands for (virtual on-net). */
  shortCodes: Map<string, ShortCode>;
}

export interface MemberEntry {
  member: VpnMember;
  group: GroupEntry;
  subscriber: Subscriber;
  /** The member's CUG memberships (empty: in no CUG). */
  cugs: CugMembership[];
  /** Its screening rules and then its group's, in the order they are tried. */
  screening: ScreeningRule[];
}

/** A number's subscriber and, when it is one, its membership: one look-up for both. */
export interface NumberEntry {
  subscriber: Subscriber;
  member: MemberEntry | undefined;
}

export interface DirectoryCounts {
  groups: number;
  members: number;
  subscribers: number;
  trunks: number;
  routes: number;
}

/** Sizes of the enterprise features' tables (kept apart from DirectoryCounts, which callers compare whole). */
export interface FeatureCounts {
  cugs: number;
  cugMembers: number;
  shortCodes: number;
  screeningRules: number;
}

const DIGITS = /^\d+$/;
const E164 = new RegExp(`^[1-9]\\d{0,${E164_MAX_DIGITS - 1}}$`);

/** A directory whose rows contradict each other; the running one stays. */
export class DirectoryError extends AppError {
  constructor(readonly problems: string[]) {
    super('VPN_DIRECTORY_INVALID', `VPN directory has ${problems.length} problem(s): ${problems.slice(0, 5).join('; ')}${problems.length > 5 ? '; …' : ''}`, { problems });
    this.name = 'DirectoryError';
  }
}

/**
 * An immutable snapshot of groups, members, subscribers, trunks and routes, validated whole and
 * indexed for look-up by number, extension, subscriber and source address.
 */
export class Directory {
  private readonly numbers = new Map<string, NumberEntry>();
  private readonly membersBySubscriber = new Map<number, MemberEntry>();
  private readonly groupsByCode = new Map<string, GroupEntry>();
  private readonly membersById = new Map<number, MemberEntry>();
  private readonly cugsById = new Map<number, ClosedUserGroup>();
  private readonly trunksById = new Map<number, Trunk>();
  private readonly trunksByName = new Map<string, Trunk>();
  private readonly targets = new Map<number, TrunkTarget>();
  private readonly acl = new AddressTable<Trunk>();
  readonly routes: RouteTable;
  readonly counts: DirectoryCounts;
  readonly featureCounts: FeatureCounts;

  private constructor(readonly plan: NumberingPlan, data: DirectoryData, problems: string[]) {
    this.indexTrunks(data.trunks, problems);
    this.indexSubscribers(data.subscribers, problems);
    const groupsById = this.indexGroups(data.groups, problems);
    this.indexMembers(data.members, groupsById, problems);
    this.indexCugs(data.cugs ?? [], data.cugMembers ?? [], problems);
    this.indexShortCodes(data.shortCodes ?? [], groupsById, problems);
    this.indexScreening(data.screening ?? [], groupsById, problems);
    for (const route of data.routes) {
      if (!DIGITS.test(route.prefix) && route.prefix !== '') problems.push(`route ${route.id}: prefix ${JSON.stringify(route.prefix)} is not digits`);
      if (!this.trunksById.has(route.trunkId)) problems.push(`route ${route.id}: trunk ${route.trunkId} does not exist`);
      if (!Number.isInteger(route.priority)) problems.push(`route ${route.id}: priority must be an integer`);
    }
    const enabled = new Set(data.trunks.filter((t) => t.enabled).map((t) => t.id));
    this.routes = new RouteTable(data.routes, this.targets, enabled);
    this.counts = {
      groups: data.groups.length, members: data.members.length, subscribers: data.subscribers.length,
      trunks: data.trunks.length, routes: data.routes.length,
    };
    this.featureCounts = {
      cugs: data.cugs?.length ?? 0, cugMembers: data.cugMembers?.length ?? 0, shortCodes: data.shortCodes?.length ?? 0, screeningRules: data.screening?.length ?? 0,
    };
  }

  /** Validates and indexes; throws DirectoryError listing every problem found. */
  static build(data: DirectoryData, plan: NumberingPlan): Directory {
    const problems: string[] = [];
    const directory = new Directory(plan, data, problems);
    if (problems.length > 0) throw new DirectoryError(problems);
    return directory;
  }

  static empty(plan: NumberingPlan): Directory {
    return Directory.build({ groups: [], members: [], subscribers: [], trunks: [], routes: [] }, plan);
  }

  private indexTrunks(trunks: readonly Trunk[], problems: string[]): void {
    for (const trunk of trunks) {
      const where = `trunk ${JSON.stringify(trunk.name)}`;
      if (this.trunksById.has(trunk.id)) problems.push(`${where}: duplicate id ${trunk.id}`);
      if (this.trunksByName.has(trunk.name)) problems.push(`${where}: duplicate name`);
      if (trunk.transport !== 'udp' && trunk.transport !== 'tcp') problems.push(`${where}: transport must be udp or tcp`);
      if (!Number.isInteger(trunk.port) || trunk.port < 1 || trunk.port > 65535) problems.push(`${where}: port ${trunk.port} out of range`);
      if (trunk.host.trim() === '') problems.push(`${where}: no host`);
      if (trunk.maxCalls !== null && (!Number.isInteger(trunk.maxCalls) || trunk.maxCalls < 0)) problems.push(`${where}: max calls must be a whole number`);
      this.trunksById.set(trunk.id, trunk);
      this.trunksByName.set(trunk.name, trunk);
      this.targets.set(trunk.id, trunkTarget(trunk));
      if (!trunk.enabled) continue;
      for (const address of trunk.addresses) {
        const cidr = parseCidr(address);
        if (!cidr) {
          problems.push(`${where}: ${JSON.stringify(address)} is not an address or CIDR`);
          continue;
        }
        const holder = this.acl.add(cidr, trunk);
        if (holder && holder !== trunk) problems.push(`${where}: address ${address} is also trunk ${JSON.stringify(holder.name)}'s`);
      }
    }
  }

  private indexSubscribers(subscribers: readonly Subscriber[], problems: string[]): void {
    for (const sub of subscribers) {
      if (!E164.test(sub.e164)) problems.push(`subscriber ${sub.id}: ${JSON.stringify(sub.e164)} is not an E.164 number (digits, no '+')`);
      if (this.numbers.has(sub.e164)) problems.push(`subscriber ${sub.id}: number ${sub.e164} is taken`);
      if (sub.homeTrunkId !== null && !this.trunksById.has(sub.homeTrunkId)) problems.push(`subscriber ${sub.e164}: home trunk ${sub.homeTrunkId} does not exist`);
      this.numbers.set(sub.e164, { subscriber: sub, member: undefined });
    }
  }

  private indexGroups(groups: readonly VpnGroup[], problems: string[]): Map<number, GroupEntry> {
    const byId = new Map<number, GroupEntry>();
    for (const group of groups) {
      const where = `group ${JSON.stringify(group.code)}`;
      if (this.groupsByCode.has(group.code)) problems.push(`${where}: duplicate code`);
      if (group.offnetPrefix !== null && !DIGITS.test(group.offnetPrefix)) problems.push(`${where}: off-net prefix must be digits`);
      let pattern: RegExp | null = null;
      if ((group.extensionLength === null) === (group.extensionPattern === null)) {
        problems.push(`${where}: set exactly one of extension length and extension pattern`);
      } else if (group.extensionLength !== null && (!Number.isInteger(group.extensionLength) || group.extensionLength < 1 || group.extensionLength > 12)) {
        problems.push(`${where}: extension length must be 1 to 12`);
      } else if (group.extensionPattern !== null) {
        try {
          pattern = new RegExp(`^(?:${group.extensionPattern})$`);
        } catch (err) {
          problems.push(`${where}: extension pattern is not a regular expression: ${(err as Error).message}`);
        }
      }
      const length = group.extensionLength ?? 0;
      const privatePrefix = group.privatePrefix ?? null;
      if (privatePrefix !== null) {
        if (!isValidPrivatePrefix(privatePrefix)) problems.push(`${where}: private-call prefix must be 1 to 4 of 0-9 * #`);
        else if (group.offnetPrefix !== null && (group.offnetPrefix.startsWith(privatePrefix) || privatePrefix.startsWith(group.offnetPrefix))) {
          problems.push(`${where}: private-call prefix ${privatePrefix} and off-net prefix ${group.offnetPrefix} overlap`);
        }
      }
      const pool = group.poolAccountId;
      if (pool !== undefined && pool !== null && (!Number.isInteger(pool) || pool < 1)) problems.push(`${where}: pool must be an account id`);
      if (group.status !== undefined && !GROUP_STATUSES.includes(group.status)) problems.push(`${where}: status ${JSON.stringify(group.status)} is not one of ${GROUP_STATUSES.join(', ')}`);
      const entry: GroupEntry = { group, extensions: new Map(), pattern, minExtensionLength: length, maxExtensionLength: length, shortCodes: new Map() };
      byId.set(group.id, entry);
      this.groupsByCode.set(group.code, entry);
    }
    return byId;
  }

  private indexMembers(members: readonly VpnMember[], groups: Map<number, GroupEntry>, problems: string[]): void {
    const subscribersById = new Map<number, Subscriber>();
    for (const entry of this.numbers.values()) subscribersById.set(entry.subscriber.id, entry.subscriber);
    for (const member of members) {
      const group = groups.get(member.groupId);
      const subscriber = subscribersById.get(member.subscriberId);
      const where = `member ${member.id} (extension ${JSON.stringify(member.extension)})`;
      if (!group) { problems.push(`${where}: group ${member.groupId} does not exist`); continue; }
      if (!subscriber) { problems.push(`${where}: subscriber ${member.subscriberId} does not exist`); continue; }
      const g = group.group;
      if (!DIGITS.test(member.extension)) problems.push(`${where}: extension must be digits`);
      else if (g.extensionLength !== null && member.extension.length !== g.extensionLength) problems.push(`${where}: extension must have ${g.extensionLength} digits in group ${g.code}`);
      else if (group.pattern && !group.pattern.test(member.extension)) problems.push(`${where}: extension does not match group ${g.code}'s pattern`);
      if (g.offnetPrefix && member.extension.startsWith(g.offnetPrefix)) problems.push(`${where}: extension begins with group ${g.code}'s off-net prefix ${g.offnetPrefix}`);
      if (!CALL_CLASSES.includes(member.callClass)) problems.push(`${where}: call class ${JSON.stringify(member.callClass)} is not one of ${CALL_CLASSES.join(', ')}`);
      for (const prefix of [...member.outgoingBarring, ...member.incomingBarring]) {
        if (!DIGITS.test(prefix)) problems.push(`${where}: barring entry ${JSON.stringify(prefix)} must be E.164 digits`);
      }
      if (g.privatePrefix && member.extension.startsWith(g.privatePrefix)) problems.push(`${where}: extension begins with group ${g.code}'s private-call prefix ${g.privatePrefix}`);
      const personal = member.personalAccountId;
      if (personal !== undefined && personal !== null && (!Number.isInteger(personal) || personal < 1)) problems.push(`${where}: personal account must be an account id`);
      for (const [name, cap] of Object.entries(member.caps ?? {})) {
        if (cap !== null && (typeof cap !== 'bigint' || cap <= 0n)) problems.push(`${where}: cap ${name} must be more than zero`);
      }
      if (group.extensions.has(member.extension)) problems.push(`${where}: extension already used in group ${g.code}`);
      if (this.membersBySubscriber.has(subscriber.id)) problems.push(`${where}: subscriber ${subscriber.e164} is already a member of group ${this.membersBySubscriber.get(subscriber.id)!.group.group.code}`);
      const entry: MemberEntry = { member, group, subscriber, cugs: [], screening: [] };
      this.membersById.set(member.id, entry);
      group.extensions.set(member.extension, entry);
      this.membersBySubscriber.set(subscriber.id, entry);
      const number = this.numbers.get(subscriber.e164);
      if (number && number.subscriber === subscriber) number.member = entry;
      if (group.pattern) {
        const len = member.extension.length;
        group.minExtensionLength = group.minExtensionLength === 0 ? len : Math.min(group.minExtensionLength, len);
        group.maxExtensionLength = Math.max(group.maxExtensionLength, len);
      }
    }
  }

  private indexCugs(cugs: readonly ClosedUserGroup[], memberships: readonly CugMembership[], problems: string[]): void {
    const codes = new Set<string>();
    for (const cug of cugs) {
      const where = `closed user group ${JSON.stringify(cug.code)}`;
      if (cug.code.trim() === '') problems.push(`closed user group ${cug.id}: no code`);
      if (codes.has(cug.code)) problems.push(`${where}: duplicate code`);
      codes.add(cug.code);
      this.cugsById.set(cug.id, cug);
    }
    for (const m of memberships) {
      const cug = this.cugsById.get(m.cugId);
      const member = this.membersById.get(m.memberId);
      if (!cug) { problems.push(`CUG membership ${m.id}: closed user group ${m.cugId} does not exist`); continue; }
      if (!member) { problems.push(`CUG membership ${m.id}: member ${m.memberId} does not exist`); continue; }
      if (member.cugs.some((x) => x.cugId === m.cugId)) problems.push(`CUG membership ${m.id}: extension ${member.member.extension} of ${member.group.group.code} is already in CUG ${cug.code}`);
      member.cugs.push(m);
    }
  }

  private indexShortCodes(codes: readonly ShortCode[], groups: Map<number, GroupEntry>, problems: string[]): void {
    for (const sc of codes) {
      const group = groups.get(sc.groupId);
      const where = `short code ${JSON.stringify(sc.code)}`;
      if (!group) { problems.push(`${where}: group ${sc.groupId} does not exist`); continue; }
      const g = group.group;
      if (!DIGITS.test(sc.code)) problems.push(`${where}: must be digits`);
      if (!E164.test(sc.e164)) problems.push(`${where}: ${JSON.stringify(sc.e164)} is not an E.164 number (digits, no '+')`);
      if (group.shortCodes.has(sc.code)) problems.push(`${where}: already used in group ${g.code}`);
      if (group.extensions.has(sc.code)) problems.push(`${where}: is an extension of group ${g.code}`);
      if (g.offnetPrefix && sc.code.startsWith(g.offnetPrefix)) problems.push(`${where}: begins with group ${g.code}'s off-net prefix ${g.offnetPrefix}`);
      if (g.privatePrefix && sc.code.startsWith(g.privatePrefix)) problems.push(`${where}: begins with group ${g.code}'s private-call prefix ${g.privatePrefix}`);
      if (sc.service !== null && sc.service.trim() === '') problems.push(`${where}: empty service code`);
      group.shortCodes.set(sc.code, sc);
    }
  }

  private indexScreening(rules: readonly ScreeningRule[], groups: Map<number, GroupEntry>, problems: string[]): void {
    const byGroup = new Map<number, ScreeningRule[]>();
    for (const rule of rules) {
      const where = `screening rule ${rule.id}`;
      const group = groups.get(rule.groupId);
      if (!group) { problems.push(`${where}: group ${rule.groupId} does not exist`); continue; }
      if (rule.memberId !== null) {
        const member = this.membersById.get(rule.memberId);
        if (!member) { problems.push(`${where}: member ${rule.memberId} does not exist`); continue; }
        if (member.group !== group) problems.push(`${where}: member ${rule.memberId} is not in group ${group.group.code}`);
      }
      if (!CALL_CLASSES.includes(rule.callClass)) problems.push(`${where}: call class ${JSON.stringify(rule.callClass)} is not one of ${CALL_CLASSES.join(', ')}`);
      if ((rule.timeFrom === null) !== (rule.timeTo === null)) problems.push(`${where}: set both or neither of time from and time to`);
      else if (rule.timeFrom !== null) {
        const from = parseMinuteOfDay(rule.timeFrom), to = parseMinuteOfDay(rule.timeTo!);
        if (from === undefined || to === undefined) problems.push(`${where}: times must be HH:MM`);
        else if (from === to) problems.push(`${where}: the window is empty`);
      }
      if (!Number.isInteger(rule.priority)) problems.push(`${where}: priority must be an integer`);
      const list = byGroup.get(group.group.id);
      if (list) list.push(rule); else byGroup.set(group.group.id, [rule]);
    }
    for (const member of this.membersById.values()) {
      const list = byGroup.get(member.group.group.id);
      if (list) member.screening = list.filter((r) => r.memberId === null || r.memberId === member.member.id).sort(screeningOrder);
    }
  }

  /** Members with caps, and the account their business calls are paid from (for opening cap accounts ahead). */
  cappedMembers(): Array<{ memberId: number; payerAccountId: number; caps: NonNullable<VpnMember['caps']> }> {
    const out = [];
    for (const m of this.membersById.values()) {
      const caps = m.member.caps;
      if (caps && (caps.perDay !== null || caps.perMonth !== null)) out.push({ memberId: m.member.id, payerAccountId: m.group.group.poolAccountId ?? m.subscriber.accountId, caps });
    }
    return out;
  }

  /** The member by its row id. */
  member(id: number): MemberEntry | undefined {
    return this.membersById.get(id);
  }

  subscriber(e164: string): Subscriber | undefined {
    return this.numbers.get(e164)?.subscriber;
  }

  /** The subscriber with this E.164 number and its membership, if any. */
  number(e164: string): NumberEntry | undefined {
    return this.numbers.get(e164);
  }

  memberOf(subscriberId: number): MemberEntry | undefined {
    return this.membersBySubscriber.get(subscriberId);
  }

  group(code: string): GroupEntry | undefined {
    return this.groupsByCode.get(code);
  }

  trunk(id: number): Trunk | undefined {
    return this.trunksById.get(id);
  }

  trunkByName(name: string): Trunk | undefined {
    return this.trunksByName.get(name);
  }

  target(trunkId: number): TrunkTarget | undefined {
    const trunk = this.trunksById.get(trunkId);
    return trunk && trunk.enabled ? this.targets.get(trunkId) : undefined;
  }

  /** The enabled trunk allowed to send from this source address (exact address, else the most specific CIDR). */
  matchTrunk(sourceAddress: string): Trunk | undefined {
    return this.acl.match(sourceAddress);
  }
}
