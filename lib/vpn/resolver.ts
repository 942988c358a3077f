import { checkIncoming, checkOutgoing } from './barring';
import { hasCaps, NO_CAPS, type CallBudget } from './budget';
import { checkClosedUserGroups } from './cug';
import { stripPrivatePrefix } from './private-call';
import { screenedCallClass } from './screening';
import type { Directory, GroupEntry, MemberEntry } from './directory';
import { incompleteNumber, localPrefixOf, parseDialString, toE164, type NumberResult } from './numbering';
import {
  SERVICE_BY_SCOPE,
  type CallerParty,
  type CallParty,
  type CallRefusal,
  type CallResolutionResult,
  type CallScope,
  type Charging,
  type ResolveCallInput,
  type ShortCode,
  type Subscriber,
} from './types';

/** Where the dialled digits lead, before barring and routing. */
interface Destination {
  scope: CallScope;
  e164: string;
  subscriber: Subscriber | undefined;
  member: MemberEntry | undefined;
  forcedOnnet: boolean;
  /** A group short code was dialled: an outside number reached as if on-net. */
  shortCode?: ShortCode;
}

type DestinationResult = { ok: true; destination: Destination } | { ok: false; refusal: CallRefusal };

function refuse(status: number, code: string, reason: string): { ok: false; refusal: CallRefusal } {
  return { ok: false, refusal: { status, code, reason } };
}

function onnetBetween(a: GroupEntry, b: GroupEntry): boolean {
  return a === b || (a.group.allowOnnetBetweenGroups && b.group.allowOnnetBetweenGroups);
}

/** A public number from a member: on-net when it is a member's of a group on-net with the caller's. */
function publicDestination(directory: Directory, caller: MemberEntry | undefined, e164: string): Destination {
  const entry = directory.number(e164);
  const subscriber = entry?.subscriber;
  const member = entry?.member;
  if (caller === undefined) return { scope: 'public', e164, subscriber, member, forcedOnnet: false };
  if (member && onnetBetween(caller.group, member.group)) return { scope: 'onnet', e164, subscriber, member, forcedOnnet: true };
  return { scope: 'offnet', e164, subscriber, member, forcedOnnet: false };
}

function fromNumber(directory: Directory, caller: MemberEntry | undefined, number: NumberResult): DestinationResult {
  return number.ok ? { ok: true, destination: publicDestination(directory, caller, number.value) } : number;
}

/**
 * A member's dialled digits in its group's plan, in this order: the off-net prefix (strip,
 * normalise, off-net or forced on-net); a group short code (virtual on-net to the outside number
 * it stands for); an extension of the group (on-net, or 404); a member's
 * public number (forced on-net); any public number when the group has no off-net prefix;
 * otherwise 484 when too short for an extension, else 404.
 */
export function resolveDialledDigits(directory: Directory, caller: MemberEntry, dialled: string): DestinationResult {
  const group = caller.group;
  const { offnetPrefix } = group.group;
  const plain = dialled.charCodeAt(0) !== 43; // no leading '+'
  if (plain && offnetPrefix && dialled.startsWith(offnetPrefix)) {
    const rest = dialled.slice(offnetPrefix.length);
    if (rest === '') return incompleteNumber(dialled, 'only the off-net prefix was dialled');
    const localPrefix = localPrefixOf(caller.subscriber.e164, directory.plan);
    return fromNumber(directory, caller, toE164(rest, directory.plan, localPrefix === undefined ? {} : { localPrefix }));
  }
  const shortCode = plain ? group.shortCodes.get(dialled) : undefined;
  if (shortCode) {
    const entry = directory.number(shortCode.e164);
    return { ok: true, destination: { scope: 'onnet', e164: shortCode.e164, subscriber: entry?.subscriber, member: entry?.member, forcedOnnet: false, shortCode } };
  }
  if (plain && (group.pattern ? group.pattern.test(dialled) : dialled.length === group.group.extensionLength)) {
    const callee = group.extensions.get(dialled);
    if (!callee) return refuse(404, 'UNKNOWN_EXTENSION', `extension ${dialled} does not exist in group ${group.group.code}`);
    return { ok: true, destination: { scope: 'onnet', e164: callee.subscriber.e164, subscriber: callee.subscriber, member: callee, forcedOnnet: false } };
  }
  const number = toE164(dialled, directory.plan);
  if (offnetPrefix === null) return fromNumber(directory, caller, number);
  if (number.ok) {
    if (directory.number(number.value)?.member) return fromNumber(directory, caller, number);
  }
  if (plain && (dialled.length < group.minExtensionLength || offnetPrefix.startsWith(dialled))) {
    return incompleteNumber(dialled, `extensions of group ${group.group.code} have ${group.minExtensionLength} digits`);
  }
  return refuse(404, 'NOT_IN_PLAN', `${dialled} is neither an extension nor a member's number in group ${group.group.code}; dial ${offnetPrefix} before outside numbers`);
}

/** A member's business call is paid from its group's pool when there is one, under its caps when it has some. */
function budgetOf(entry: MemberEntry): CallBudget | undefined {
  const pool = entry.group.group.poolAccountId ?? null;
  const caps = entry.member.caps ?? NO_CAPS;
  if (pool === null && !hasCaps(caps)) return undefined;
  return { payerAccountId: pool ?? entry.subscriber.accountId, pool: pool !== null, memberId: entry.member.id, caps };
}

function party(e164: string, subscriber: Subscriber | undefined, member: MemberEntry | undefined): CallParty {
  const p: CallParty = { e164 };
  if (subscriber) p.subscriberId = subscriber.id;
  if (member) {
    p.groupCode = member.group.group.code;
    p.extension = member.member.extension;
  }
  return p;
}

/**
 * Who calls whom and where the call goes. The caller must be a known, active subscriber (its
 * account pays) calling from a trunk that serves members; a member's digits are read in its group's plan, anyone else's as a public number.
 * Then: the caller's outgoing barring, the callee's incoming barring, the callee's availability,
 * and the route list (the callee's home trunk when the callee is a subscriber with one, else the
 * prefix routes).
 */
export function resolveCall(directory: Directory, input: ResolveCallInput): CallResolutionResult {
  const plan = directory.plan;
  const parsedCaller = parseDialString(input.caller);
  const callerNumber = parsedCaller.ok ? toE164(parsedCaller.value, plan) : parsedCaller;
  if (!callerNumber.ok) return refuse(403, 'INVALID_CALLER', `calling number: ${callerNumber.refusal.reason}`);
  // A carrier's From is whatever its sender typed: only a member-serving trunk speaks for subscribers.
  const trunk = input.ingressTrunk;
  if (trunk && !trunk.servesMembers) {
    return refuse(403, 'UNTRUSTED_CALLER', `trunk ${JSON.stringify(trunk.name)} does not serve members: its caller ${callerNumber.value} is not taken for a subscriber, and outside callers have no account to pay`);
  }
  const callerEntry = directory.number(callerNumber.value);
  if (!callerEntry) return refuse(403, 'UNKNOWN_CALLER', `calling number ${callerNumber.value} is not a subscriber`);
  const callerSub = callerEntry.subscriber;
  if (callerSub.status !== 'active') return refuse(403, 'CALLER_INACTIVE', `calling subscriber ${callerSub.e164} is ${callerSub.status}`);

  const callerMember = callerEntry.member;
  const callerGroupStatus = callerMember?.group.group.status ?? 'active';
  if (callerGroupStatus !== 'active') {
    return refuse(403, callerGroupStatus === 'closed' ? 'GROUP_CLOSED' : 'GROUP_SUSPENDED', `group ${callerMember!.group.group.code} of the caller is ${callerGroupStatus}`);
  }
  let charging: Charging = 'business';
  let dialledInput = input.dialled;
  if (callerMember) {
    const stripped = stripPrivatePrefix(input.dialled, callerMember.group.group.privatePrefix);
    if (stripped !== undefined) {
      const personal = callerMember.member.personalAccountId;
      if (personal === undefined || personal === null) {
        return refuse(403, 'NO_PERSONAL_ACCOUNT', `extension ${callerMember.member.extension} has no personal account for private calls`);
      }
      charging = 'private';
      dialledInput = stripped;
    }
  }
  const parsed = parseDialString(dialledInput);
  if (!parsed.ok) return parsed;
  const dialled = parsed.value;
  const found = callerMember ? resolveDialledDigits(directory, callerMember, dialled) : fromNumber(directory, undefined, toE164(dialled, plan));
  if (!found.ok) return found;
  const dest = found.destination;

  if (callerMember) {
    const callClass = screenedCallClass(callerMember.member.callClass, callerMember.screening, input.at ?? new Date(), input.clock);
    const outgoing = checkOutgoing(callerMember, dest.scope, dest.e164, plan, callClass);
    if (outgoing) return { ok: false, refusal: outgoing };
  }
  // A short code's outside number is outside every CUG, whoever holds that number.
  const cug = checkClosedUserGroups(callerMember?.cugs ?? [], dest.shortCode ? [] : dest.member?.cugs ?? []);
  if (cug) return { ok: false, refusal: cug };
  if (dest.member) {
    const incoming = checkIncoming(dest.member, callerSub.e164);
    if (incoming) return { ok: false, refusal: incoming };
  }
  if (dest.subscriber && dest.subscriber.status !== 'active') {
    return refuse(480, 'CALLEE_UNAVAILABLE', `subscriber ${dest.e164} is ${dest.subscriber.status}`);
  }
  const calleeGroupStatus = dest.member?.group.group.status ?? 'active';
  if (calleeGroupStatus !== 'active') return refuse(480, 'CALLEE_UNAVAILABLE', `group ${dest.member!.group.group.code} of the callee is ${calleeGroupStatus}`);
  const home = dest.subscriber && dest.subscriber.homeTrunkId !== null ? directory.target(dest.subscriber.homeTrunkId) : undefined;
  const routes = home ? [home] : directory.routes.lookup(dest.e164).slice();
  if (routes.length === 0) return refuse(404, 'NO_ROUTE', `no route to ${dest.e164}`);

  const isPrivate = charging === 'private';
  const callerPlan = isPrivate ? callerMember!.member.personalPlan ?? callerSub.plan : callerSub.plan;
  const budget = callerMember && !isPrivate ? budgetOf(callerMember) : undefined;
  const accountId = isPrivate ? callerMember!.member.personalAccountId! : budget?.payerAccountId ?? callerSub.accountId;
  const caller: CallerParty = { e164: callerSub.e164, subscriberId: callerSub.id, accountId };
  if (callerPlan !== null) caller.plan = callerPlan;
  if (callerMember) {
    caller.groupCode = callerMember.group.group.code;
    caller.extension = callerMember.member.extension;
  }
  const sameGroup = dest.scope === 'onnet' && callerMember !== undefined && dest.member !== undefined && dest.member.group === callerMember.group;
  const presentedCaller = sameGroup && callerMember ? callerMember.member.extension : callerSub.e164;
  const service = dest.shortCode ? dest.shortCode.service ?? SERVICE_BY_SCOPE.onnet : SERVICE_BY_SCOPE[dest.scope];
  // A private call is rated with the member's personal plan, not the enterprise's rules.
  const vpnGroup = callerMember && !isPrivate ? callerMember.group.group.code : null;
  return {
    ok: true,
    resolution: {
      scope: dest.scope,
      service,
      dialled,
      caller,
      callee: party(dest.e164, dest.subscriber, dest.member),
      presentedCaller,
      presentedIsExtension: sameGroup,
      routes,
      attributes: { service, callerPlan, vpnGroup, destination: dest.e164 },
      forcedOnnet: dest.forcedOnnet,
      charging,
      virtualOnnet: dest.shortCode !== undefined,
      ...(budget ? { budget } : {}),
    },
  };
}
