import assert from 'node:assert/strict';
import { Directory, DirectoryError, type DirectoryData } from '../../../lib/vpn';
import { fixtureData, PLAN } from './fixture';

type Edit = (data: DirectoryData) => void;

function problemsOf(edit: Edit): string[] {
  const data = fixtureData();
  edit(data);
  try {
    Directory.build(data, PLAN);
  } catch (err) {
    assert.ok(err instanceof DirectoryError, `expected a DirectoryError, got ${String(err)}`);
    assert.equal(err.code, 'VPN_DIRECTORY_INVALID');
    return err.problems;
  }
  return [];
}

describe('Directory.build: a directory that contradicts itself is refused whole', () => {
  it('the fixture is valid and counted', () => {
    const directory = Directory.build(fixtureData(), PLAN);
    assert.deepEqual(directory.counts, { groups: 3, members: 10, subscribers: 12, trunks: 6, routes: 10 });
  });

  const cases: [string, Edit, RegExp][] = [
    ['an extension used twice in one group', (d) => { d.members[1]!.extension = '1001'; }, /extension already used in group acme/],
    ['an extension of the wrong length', (d) => { d.members[0]!.extension = '100'; }, /must have 4 digits/],
    ['an extension outside the group pattern', (d) => { d.members[6]!.extension = '901'; }, /does not match group gamma's pattern/],
    ['an extension beginning with the off-net prefix', (d) => { d.members[0]!.extension = '9001'; }, /begins with group acme's off-net prefix 9/],
    ['an extension that is not digits', (d) => { d.members[0]!.extension = '10a1'; }, /extension must be digits/],
    ['a subscriber in two groups', (d) => { d.members.push({ ...d.members[0]!, id: 99, groupId: 2, extension: '29' }); }, /already a member of group acme/],
    ['a member of a missing group', (d) => { d.members[0]!.groupId = 42; }, /group 42 does not exist/],
    ['a member of a missing subscriber', (d) => { d.members[0]!.subscriberId = 42; }, /subscriber 42 does not exist/],
    ['an unknown call class', (d) => { (d.members[0]! as { callClass: string }).callClass = 'galactic'; }, /call class "galactic"/],
    ['a barring entry that is not digits', (d) => { d.members[0]!.incomingBarring = ['+49']; }, /barring entry "\+49"/],
    ['a group with both extension length and pattern', (d) => { d.groups[0]!.extensionPattern = '\\d{4}'; }, /exactly one of extension length and extension pattern/],
    ['a group with neither', (d) => { d.groups[0]!.extensionLength = null; }, /exactly one of/],
    ['a group pattern that is not a regular expression', (d) => { d.groups[2]!.extensionPattern = '[1-'; }, /not a regular expression/],
    ['a group off-net prefix that is not digits', (d) => { d.groups[0]!.offnetPrefix = '#'; }, /off-net prefix must be digits/],
    ['two groups with one code', (d) => { d.groups[1]!.code = 'acme'; }, /group "acme": duplicate code/],
    ['a subscriber number with a +', (d) => { d.subscribers[8]!.e164 = '+4930555000'; }, /not an E.164 number/],
    ['a subscriber number in national form', (d) => { d.subscribers[8]!.e164 = '030555000'; }, /not an E.164 number/],
    ['a subscriber number taken twice', (d) => { d.subscribers[9]!.e164 = '4930555000'; }, /number 4930555000 is taken/],
    ['a home trunk that does not exist', (d) => { d.subscribers[0]!.homeTrunkId = 77; }, /home trunk 77 does not exist/],
    ['two trunks with one name', (d) => { d.trunks[1]!.name = 'pbx-acme'; }, /duplicate name/],
    ['a trunk address that is not an address', (d) => { d.trunks[0]!.addresses = ['pbx.acme.example']; }, /is not an address or CIDR/],
    ['one address on two trunks', (d) => { d.trunks[1]!.addresses = ['198.51.100.0/24']; }, /is also trunk "pbx-acme"'s/],
    ['a port out of range', (d) => { d.trunks[0]!.port = 70000; }, /port 70000 out of range/],
    ['a route to a missing trunk', (d) => { d.routes[0]!.trunkId = 99; }, /trunk 99 does not exist/],
    ['a route prefix with a +', (d) => { d.routes[2]!.prefix = '+49'; }, /prefix "\+49" is not digits/],
  ];
  for (const [what, edit, expected] of cases) {
    it(`refuses ${what}`, () => {
      const problems = problemsOf(edit);
      assert.ok(problems.some((p) => expected.test(p)), `no problem matching ${expected} in ${JSON.stringify(problems)}`);
    });
  }

  it('lists every problem, not only the first', () => {
    const problems = problemsOf((d) => { d.members[0]!.extension = '100'; d.routes[0]!.trunkId = 99; });
    assert.equal(problems.length, 2);
  });

  it('the same extension may exist in two groups', () => {
    const data = fixtureData();
    data.groups[1]!.extensionLength = 4;
    data.members[4]!.extension = '1001';
    data.members[5]!.extension = '1002';
    const directory = Directory.build(data, PLAN);
    assert.equal(directory.group('beta')?.extensions.get('1001')?.subscriber.e164, '4989200001');
    assert.equal(directory.group('acme')?.extensions.get('1001')?.subscriber.e164, '4930100001');
  });

  it('a disabled trunk may share an address with an enabled one', () => {
    assert.deepEqual(problemsOf((d) => { d.trunks[5]!.addresses = ['192.0.2.10']; }), []);
  });
});
