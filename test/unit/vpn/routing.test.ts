import assert from 'node:assert/strict';
import { RouteTable, trunkTarget, type Route, type Trunk, type TrunkTarget } from '../../../lib/vpn';

function trunk(id: number, name: string, enabled = true): Trunk {
  return { id, name, addresses: [], paiTrusted: false, servesMembers: false, host: `${name}.example`, port: 5060, transport: 'udp', maxCalls: null, enabled };
}

const trunks = [trunk(1, 'a'), trunk(2, 'b'), trunk(3, 'c'), trunk(4, 'd'), trunk(5, 'off', false)];
const targets = new Map<number, TrunkTarget>(trunks.map((t) => [t.id, trunkTarget(t)]));
const enabled = new Set(trunks.filter((t) => t.enabled).map((t) => t.id));

let nextId = 1;
function route(prefix: string, trunkId: number, priority: number, isEnabled = true): Route {
  return { id: nextId++, prefix, trunkId, priority, enabled: isEnabled };
}

const table = new RouteTable([
  route('', 4, 1),
  route('49', 2, 20),
  route('49', 1, 10),
  route('4930', 3, 5),
  route('4930', 1, 5),
  route('49301', 5, 1), // disabled trunk: left out
  route('4989', 3, 1, false), // disabled route: left out
  route('44', 4, 1), // same trunk as the default: appears once
  route('1', 2, 5),
  route('1', 3, 5), // equal priority: by id
], targets, enabled);

describe('RouteTable: longest prefix, then priority, then fail-over to shorter prefixes', () => {
  const cases: [string, string, string[]][] = [
    ['a number under the longest prefix tries its routes first, then shorter ones', '4930123456', ['c', 'a', 'b', 'd']],
    ['routes of one prefix go by priority, lower first', '4940123456', ['a', 'b', 'd']],
    ['a prefix whose only route uses a disabled trunk falls to the next prefix', '4930123', ['c', 'a', 'b', 'd']],
    ['a disabled route is ignored', '4989123456', ['a', 'b', 'd']],
    ['a trunk appears once, at its best place', '442071234567', ['d']],
    ['equal priority is ordered by route id', '12125551234', ['b', 'c', 'd']],
    ['the default route catches the rest', '33123456789', ['d']],
    ['a number equal to a prefix matches it', '4930', ['c', 'a', 'b', 'd']],
  ];
  for (const [why, number, expected] of cases) {
    it(`${why}: ${number} → ${expected.join(', ')}`, () => assert.deepEqual(table.lookup(number).map((t) => t.name), expected));
  }

  it('with no default route, an unmatched number has no route', () => {
    const small = new RouteTable([route('49', 1, 1)], targets, enabled);
    assert.deepEqual(small.lookup('4412345678'), []);
    assert.deepEqual(small.lookup('4912345678').map((t) => t.name), ['a']);
  });
});
