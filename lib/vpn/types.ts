import type { ServiceAttributes } from '../rating/types';
import type { CallBudget, MemberCaps } from './budget';

/**
 * Plain data of the VPN numbering plan, trunks and routes, as the repository loads them
 * and the resolver reads them. Numbers are E.164 digits without '+' ("4930123456").
 */

/** What a member may dial, from least to most: each class includes the ones before it. */
export type CallClass = 'onnet_only' | 'local' | 'national' | 'international';
export const CALL_CLASSES: readonly CallClass[] = ['onnet_only', 'local', 'national', 'international'];

export type Transport = 'udp' | 'tcp';

export interface Trunk {
  id: number;
  name: string;
  /** Source addresses or CIDRs (IPv4 or IPv6) allowed to send INVITEs through this trunk. */
  addresses: string[];
  /** Whether a P-Asserted-Identity received from this trunk is believed (only on a trunk that serves members). */
  paiTrusted: boolean;
  /**
   * Whether callers on this trunk may be identified as subscribers (members or not), whose
   * accounts then pay: true for the PBX side. On any other trunk (a carrier) the caller is an
   * outside party whatever its From or P-Asserted-Identity says.
   */
  servesMembers: boolean;
  /** Outbound target. */
  host: string;
  port: number;
  transport: Transport;
  /** Concurrent-call limit; null: unlimited. Enforced by the call flow. */
  maxCalls: number | null;
  enabled: boolean;
}

export interface Route {
  id: number;
  /** Destination prefix in E.164 digits; '' matches every destination (default route). */
  prefix: string;
  trunkId: number;
  /** Lower is tried first among routes of the same prefix. */
  priority: number;
  enabled: boolean;
}

export interface Subscriber {
  id: number;
  e164: string;
  accountId: number;
  /** Caller plan code for rating. */
  plan: string | null;
  homeTrunkId: number | null;
  /** Only 'active' subscribers make and receive calls. */
  status: string;
  displayName: string | null;
}

export interface VpnGroup {
  id: number;
  code: string;
  name: string;
  /** Access prefix for outside numbers ("9"); null: members dial public numbers directly. */
  offnetPrefix: string | null;
  /** Extensions are exactly this many digits … */
  extensionLength: number | null;
  /** … or match this regular expression (whole string). One of the two is set. */
  extensionPattern: string | null;
  /** Calls to members of another group are on-net when both groups allow it. */
  allowOnnetBetweenGroups: boolean;
  /**
   * Dialled before a number ("*7"), makes the call private: paid from the member's personal
   * account with its personal plan, not by the enterprise. Null (or absent): no private calls.
   */
  privatePrefix?: string | null;
  /** Only an active group's members make and receive calls (absent: active). */
  status?: GroupStatus;
  /** The prepaid account the group's business calls are paid from (the pool); null: each member's own account. */
  poolAccountId?: number | null;
}

export type GroupStatus = 'active' | 'suspended' | 'closed';
export const GROUP_STATUSES: readonly GroupStatus[] = ['active', 'suspended', 'closed'];

export interface VpnMember {
  id: number;
  groupId: number;
  subscriberId: number;
  extension: string;
  callClass: CallClass;
  /** E.164 prefixes the member may not call. */
  outgoingBarring: string[];
  /** E.164 prefixes of callers the member does not accept. */
  incomingBarring: string[];
  /** The member's own account, which pays its private calls; null (or absent): none. */
  personalAccountId?: number | null;
  /** Caller plan rating uses for its private calls (absent: the subscriber's plan). */
  personalPlan?: string | null;
  /** Caps on the member's business calls, on top of the pool (absent: none). */
  caps?: MemberCaps;
}

/** A closed user group (ITU-T I.255.1): members of any VPN group may belong to several. */
export interface ClosedUserGroup {
  id: number;
  code: string;
  name: string;
}

/** One member in one CUG, with its access outside the CUG. */
export interface CugMembership {
  id: number;
  cugId: number;
  memberId: number;
  /** Outgoing access: the member may call parties outside its CUGs (any membership granting it counts). */
  outgoingAccess: boolean;
  /** Incoming access: parties outside its CUGs may call the member. */
  incomingAccess: boolean;
}

/** A group-wide short code for an outside number ("virtual on-net": a supplier as extension 7001). */
export interface ShortCode {
  id: number;
  groupId: number;
  code: string;
  /** The outside number it stands for, E.164 digits. */
  e164: string;
  /** Service code the call is rated by (the group decides); null: voice.onnet. */
  service: string | null;
}

/**
 * A member's call class by time of day and day type (the rating calendar's day types). Member
 * rules come before the group's (memberId null), then by priority (lower first), then id; the
 * first that matches the INVITE time gives the class, and with none the member's own class stands.
 */
export interface ScreeningRule {
  id: number;
  groupId: number;
  memberId: number | null;
  /** Day type code of the rating calendar ("weekday"); null: any day. */
  dayType: string | null;
  /** "HH:MM" local time in the rating's default time zone, from inclusive, to exclusive; both null: all day. */
  timeFrom: string | null;
  timeTo: string | null;
  callClass: CallClass;
  priority: number;
}

/** Everything the resolver needs, loaded whole and swapped whole. */
export interface DirectoryData {
  groups: VpnGroup[];
  members: VpnMember[];
  subscribers: Subscriber[];
  trunks: Trunk[];
  routes: Route[];
  cugs?: ClosedUserGroup[];
  cugMembers?: CugMembership[];
  shortCodes?: ShortCode[];
  screening?: ScreeningRule[];
}

/** Numbering plan of the network (config `numbering`). */
export interface NumberingPlan {
  countryCode: string;
  nationalPrefix: string;
  internationalPrefix: string;
  /**
   * Digits of the national significant number that form the area code, for the "local" call
   * class and for local-format dialling after the off-net prefix. Default 2 (e.g. 30 Berlin).
   */
  areaCodeLength?: number;
  /** Fewest digits of a national significant number; fewer is incomplete (484). Default 4. */
  minNationalDigits?: number;
}

/** The attributes rating selects a charging rule by (lib/rating's type). */
export type { ServiceAttributes };

export type CallScope = 'onnet' | 'offnet' | 'public';

export const SERVICE_BY_SCOPE: Readonly<Record<CallScope, string>> = {
  onnet: 'voice.onnet',
  offnet: 'voice.offnet',
  public: 'voice.public',
};

export interface TrunkTarget {
  trunkId: number;
  name: string;
  host: string;
  port: number;
  transport: Transport;
}

export interface CallParty {
  e164: string;
  subscriberId?: number;
  groupCode?: string;
  extension?: string;
}

export interface CallerParty extends CallParty {
  accountId?: number;
  plan?: string;
}

export interface CallResolution {
  scope: CallScope;
  service: string;
  /** Digits as dialled (URI stripped, separators removed). */
  dialled: string;
  caller: CallerParty;
  callee: CallParty;
  /** What the callee sees as the caller: the extension on-net within a group, else E.164 digits. */
  presentedCaller: string;
  /** Whether presentedCaller is an extension (true) or E.164 digits (false). */
  presentedIsExtension: boolean;
  /** Targets in fail-over order. */
  routes: TrunkTarget[];
  attributes: ServiceAttributes;
  /** The public number was dialled and the callee is a member: the call was made on-net. */
  forcedOnnet: boolean;
  /** Who pays: the enterprise (business, the caller's subscriber account) or the member (private, its personal account). */
  charging?: Charging;
  /** A group short code for an outside number was dialled (rated as the group decides). */
  virtualOnnet?: boolean;
  /** A business call under a group pool or member caps (caller.accountId is then the payer). */
  budget?: CallBudget;
}

export type Charging = 'business' | 'private';

export interface CallRefusal {
  status: number;
  code: string;
  reason: string;
}

export type CallResolutionResult =
  | { ok: true; resolution: CallResolution }
  | { ok: false; refusal: CallRefusal };

export interface ResolveCallInput {
  /** The calling number or URI (From or trusted P-Asserted-Identity). */
  caller: string;
  /**
   * The trunk the call arrived on. When it does not serve members, the caller is never taken for
   * a subscriber. Left out only by dry runs, which resolve as if from a member-serving trunk.
   */
  ingressTrunk?: Pick<Trunk, 'name' | 'servesMembers'>;
  /** The called number or URI (Request-URI) as dialled. */
  dialled: string;
  /** When the call is made, for time-based screening (default: now). */
  at?: Date;
  /** Local time and day type for screening: the rating calendar. Without it only all-day, any-day rules apply. */
  clock?: ScreeningClock;
}

/** The local view of an instant: the rating calendar's day type code and minutes since local midnight. */
export interface ScreeningClock {
  localTime(at: Date): { dayType: string | null; minuteOfDay: number };
}
