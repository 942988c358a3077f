import type { CallClass, DirectoryData, NumberingPlan, Subscriber, Trunk, VpnMember } from '../../../lib/vpn';

/** Germany-like numbering: +49, national 0, international 00, two-digit area codes. */
export const PLAN: NumberingPlan = { countryCode: '49', nationalPrefix: '0', internationalPrefix: '00', areaCodeLength: 2, minNationalDigits: 4 };

function trunk(id: number, name: string, addresses: string[], extra: Partial<Trunk> = {}): Trunk {
  return { id, name, addresses, paiTrusted: false, servesMembers: false, host: `${name}.example`, port: 5060, transport: 'udp', maxCalls: null, enabled: true, ...extra };
}

function subscriber(id: number, e164: string, extra: Partial<Subscriber> = {}): Subscriber {
  return { id, e164, accountId: 100 + id, plan: 'business', homeTrunkId: null, status: 'active', displayName: null, ...extra };
}

function member(id: number, groupId: number, subscriberId: number, extension: string, callClass: CallClass, extra: Partial<VpnMember> = {}): VpnMember {
  return { id, groupId, subscriberId, extension, callClass, outgoingBarring: [], incomingBarring: [], ...extra };
}

/**
 * Three groups:
 * - acme (4-digit extensions, off-net prefix 9, on-net only within itself), home trunk pbx-acme;
 * - beta (2-digit extensions, off-net prefix 0, on-net with other willing groups), home trunk pbx-beta;
 * - gamma (extension pattern 1xx-7xx or 8xxx, no off-net prefix, on-net with other willing groups).
 * Plus two public subscribers (one suspended) and carrier trunks with prefix routes.
 */
export function fixtureData(): DirectoryData {
  return {
    trunks: [
      trunk(1, 'pbx-acme', ['192.0.2.10', '198.51.100.0/24'], { paiTrusted: true, servesMembers: true }),
      trunk(2, 'pbx-beta', ['2001:db8:1::/48'], { transport: 'tcp', port: 5080, servesMembers: true }),
      trunk(3, 'carrier-a', ['203.0.113.0/25']),
      trunk(4, 'carrier-b', ['203.0.113.128/25']),
      trunk(5, 'carrier-intl', ['203.0.113.5']),
      trunk(6, 'retired', ['192.0.2.99'], { enabled: false }),
    ],
    routes: [
      { id: 1, prefix: '', trunkId: 3, priority: 10, enabled: true },
      { id: 2, prefix: '', trunkId: 4, priority: 20, enabled: true },
      { id: 3, prefix: '49', trunkId: 4, priority: 10, enabled: true },
      { id: 4, prefix: '4930', trunkId: 4, priority: 5, enabled: true },
      { id: 5, prefix: '4930', trunkId: 3, priority: 5, enabled: true },
      { id: 6, prefix: '44', trunkId: 5, priority: 1, enabled: true },
      { id: 7, prefix: '4989', trunkId: 6, priority: 1, enabled: true },
      { id: 8, prefix: '1', trunkId: 5, priority: 1, enabled: false },
      { id: 9, prefix: '4940', trunkId: 5, priority: 2, enabled: true },
      { id: 10, prefix: '4940', trunkId: 3, priority: 1, enabled: true },
    ],
    subscribers: [
      subscriber(1, '4930100001', { homeTrunkId: 1 }),
      subscriber(2, '4930100002', { homeTrunkId: 1 }),
      subscriber(3, '4930100003', { homeTrunkId: 1 }),
      subscriber(4, '4930100004', { homeTrunkId: 1 }),
      subscriber(5, '4989200001', { homeTrunkId: 2 }),
      subscriber(6, '4989200002', { homeTrunkId: 2 }),
      subscriber(7, '4940300001'),
      subscriber(8, '4940300002'),
      subscriber(9, '4930555000', { plan: 'consumer' }),
      subscriber(10, '4930555001', { status: 'suspended' }),
      subscriber(11, '4930100005', { homeTrunkId: 1, status: 'suspended' }),
      subscriber(12, '4940300003', { plan: null }),
    ],
    groups: [
      { id: 1, code: 'acme', name: 'Acme', offnetPrefix: '9', extensionLength: 4, extensionPattern: null, allowOnnetBetweenGroups: false },
      { id: 2, code: 'beta', name: 'Beta', offnetPrefix: '0', extensionLength: 2, extensionPattern: null, allowOnnetBetweenGroups: true },
      { id: 3, code: 'gamma', name: 'Gamma', offnetPrefix: null, extensionLength: null, extensionPattern: '[1-7]\\d{2}|8\\d{3}', allowOnnetBetweenGroups: true },
    ],
    members: [
      member(1, 1, 1, '1001', 'international'),
      member(2, 1, 2, '1002', 'onnet_only'),
      member(3, 1, 3, '1003', 'local'),
      member(4, 1, 4, '1004', 'national', { outgoingBarring: ['49900', '4930100003'] }),
      member(5, 2, 5, '21', 'international'),
      member(6, 2, 6, '22', 'international', { incomingBarring: ['4930100001', '4930555'] }),
      member(7, 3, 7, '101', 'international'),
      member(8, 3, 8, '8000', 'national'),
      member(9, 1, 11, '1005', 'international'),
      member(10, 3, 12, '102', 'international'),
    ],
  };
}
