import type { CallClass, DirectoryData, ResolveCallInput, Route, Subscriber, Trunk, VpnGroup, VpnMember } from '../../../lib/vpn';

/**
 * A generated directory of any size, for the benchmark and the integration test: `groups` groups
 * of `membersPerGroup` members, one PBX trunk per ten groups, carrier trunks and prefix routes.
 * Group g: code `g<g>`, 4-digit extensions from 1000, off-net prefix 9 (0 for odd groups, whose
 * extensions then start at 1000 too), on-net between groups for every third group.
 * Member i of group g has number 49 30 <g:3> <i:4> (national 30, so every member is "local" to Berlin).
 */
export interface SyntheticOptions {
  groups: number;
  membersPerGroup: number;
  publicSubscribers?: number;
}

const CLASSES: CallClass[] = ['international', 'national', 'local', 'onnet_only'];

export function memberNumber(group: number, index: number): string {
  return `4930${String(group).padStart(3, '0')}${String(index).padStart(4, '0')}`;
}

export function memberExtension(index: number): string {
  return String(1000 + index);
}

export function publicNumber(index: number): string {
  return `4989${String(index).padStart(7, '0')}`;
}

export function syntheticData(opts: SyntheticOptions): DirectoryData {
  if (opts.membersPerGroup > 8000) throw new RangeError('at most 8000 members per group (extensions 1000-8999)');
  const trunks: Trunk[] = [];
  const pbxCount = Math.max(1, Math.ceil(opts.groups / 10));
  for (let t = 0; t < pbxCount; t++) {
    trunks.push({ id: t + 1, name: `pbx-${t}`, addresses: [`10.${t >> 8}.${t & 255}.0/24`], paiTrusted: true, servesMembers: true, host: `10.${t >> 8}.${t & 255}.1`, port: 5060, transport: 'udp', maxCalls: 500, enabled: true });
  }
  const carriers = ['carrier-a', 'carrier-b', 'carrier-c'];
  carriers.forEach((name, i) => {
    trunks.push({ id: pbxCount + i + 1, name, addresses: [`192.0.2.${i + 1}`, `2001:db8:${i + 1}::/48`], paiTrusted: false, servesMembers: false, host: `192.0.2.${i + 1}`, port: 5060, transport: i === 2 ? 'tcp' : 'udp', maxCalls: null, enabled: true });
  });
  const carrierId = (i: number) => pbxCount + i + 1;
  const routes: Route[] = [
    { id: 1, prefix: '', trunkId: carrierId(0), priority: 10, enabled: true },
    { id: 2, prefix: '', trunkId: carrierId(1), priority: 20, enabled: true },
    { id: 3, prefix: '49', trunkId: carrierId(1), priority: 10, enabled: true },
  ];
  // Area routes 4920…4999 and some country routes, to give the table some depth.
  for (let area = 20; area < 100; area++) routes.push({ id: routes.length + 1, prefix: `49${area}`, trunkId: carrierId(area % 3), priority: 5, enabled: true });
  for (const cc of ['1', '33', '34', '39', '41', '43', '44', '45', '46', '47', '48', '86', '91']) {
    routes.push({ id: routes.length + 1, prefix: cc, trunkId: carrierId(2), priority: 1, enabled: true });
    routes.push({ id: routes.length + 1, prefix: cc, trunkId: carrierId(0), priority: 2, enabled: true });
  }
  const groups: VpnGroup[] = [];
  const subscribers: Subscriber[] = [];
  const members: VpnMember[] = [];
  for (let g = 0; g < opts.groups; g++) {
    groups.push({ id: g + 1, code: `g${g}`, name: `Group ${g}`, offnetPrefix: g % 2 === 0 ? '9' : '0', extensionLength: 4, extensionPattern: null, allowOnnetBetweenGroups: g % 3 === 0 });
    for (let i = 0; i < opts.membersPerGroup; i++) {
      const id = subscribers.length + 1;
      subscribers.push({ id, e164: memberNumber(g, i), accountId: id, plan: i % 2 === 0 ? 'business' : 'business-plus', homeTrunkId: Math.floor(g / 10) + 1, status: 'active', displayName: `Member ${g}/${i}` });
      members.push({
        id, groupId: g + 1, subscriberId: id, extension: memberExtension(i), callClass: CLASSES[i % CLASSES.length]!,
        outgoingBarring: i % 10 === 0 ? ['49900', '49137'] : [], incomingBarring: i % 50 === 0 ? ['4989'] : [],
      });
    }
  }
  for (let p = 0; p < (opts.publicSubscribers ?? 100); p++) {
    const id = subscribers.length + 1;
    subscribers.push({ id, e164: publicNumber(p), accountId: id, plan: 'consumer', homeTrunkId: null, status: 'active', displayName: null });
  }
  return { groups, members, subscribers, trunks, routes };
}

/**
 * A deterministic mix of calls over a synthetic directory: extensions, the off-net prefix with
 * national, local and international numbers, forced on-net, other groups, public callers, and
 * some refusals (unknown extension, incomplete, barred).
 */
export function syntheticCalls(opts: SyntheticOptions, count: number): ResolveCallInput[] {
  const calls: ResolveCallInput[] = [];
  let seed = 12345;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return (seed >>> 8) % n;
  };
  const publics = opts.publicSubscribers ?? 100;
  for (let k = 0; k < count; k++) {
    const g = rand(opts.groups);
    const i = rand(opts.membersPerGroup);
    const caller = memberNumber(g, i);
    const prefix = g % 2 === 0 ? '9' : '0';
    const kind = k % 20;
    let dialled: string;
    if (kind < 8) dialled = memberExtension(rand(opts.membersPerGroup));
    else if (kind < 11) dialled = `${prefix}089${String(rand(10_000_000)).padStart(7, '0')}`;
    else if (kind < 12) dialled = `${prefix}${String(rand(1_000_000)).padStart(6, '0')}`;
    else if (kind < 13) dialled = `${prefix}0044207${String(rand(1_000_000)).padStart(6, '0')}`;
    else if (kind < 15) dialled = `+${memberNumber(rand(opts.groups), rand(opts.membersPerGroup))}`;
    else if (kind < 16) dialled = `sip:${memberExtension(rand(opts.membersPerGroup))}@pbx.example;user=phone`;
    else if (kind < 17) dialled = '8999';
    else if (kind < 18) dialled = '12';
    else {
      calls.push({ caller: `sip:+${publicNumber(rand(publics))}@carrier.example`, dialled: `0${memberNumber(rand(opts.groups), rand(opts.membersPerGroup)).slice(2)}` });
      continue;
    }
    calls.push({ caller, dialled });
  }
  return calls;
}
