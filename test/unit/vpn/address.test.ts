import assert from 'node:assert/strict';
import { AddressTable, Directory, parseCidr, parseIpAddress } from '../../../lib/vpn';
import { fixtureData, PLAN } from './fixture';

describe('parseIpAddress', () => {
  const cases: [string, string | undefined][] = [
    ['192.0.2.1', '4:c0000201'],
    ['0.0.0.0', '4:0'],
    ['255.255.255.255', '4:ffffffff'],
    ['2001:db8::1', '6:20010db8000000000000000000000001'],
    ['[2001:db8::1]', '6:20010db8000000000000000000000001'],
    ['2001:DB8:0:0:0:0:0:1', '6:20010db8000000000000000000000001'],
    ['::1', '6:1'],
    ['::', '6:0'],
    ['fe80::1%eth0', '6:fe800000000000000000000000000001'],
    ['::ffff:192.0.2.1', '4:c0000201'],
    ['64:ff9b::192.0.2.1', '6:0064ff9b0000000000000000c0000201'],
    ['256.0.0.1', undefined],
    ['192.0.2', undefined],
    ['192.0.2.1.5', undefined],
    ['192.0.2.01', undefined],
    ['1:2:3:4:5:6:7:8:9', undefined],
    ['1::2::3', undefined],
    ['12345::1', undefined],
    ['1:2:3:4:5:6:7::8', undefined],
    ['example.com', undefined],
    ['', undefined],
  ];
  for (const [input, expected] of cases) {
    it(`${JSON.stringify(input)} → ${expected ?? 'not an address'}`, () => {
      const parsed = parseIpAddress(input);
      if (expected === undefined) assert.equal(parsed, undefined);
      else {
        assert.ok(parsed);
        const hex = parsed.value.toString(16);
        assert.equal(`${parsed.family}:${parsed.family === 6 && hex !== '0' && hex !== '1' ? hex.padStart(32, '0') : hex}`, expected);
      }
    });
  }
});

describe('parseCidr', () => {
  it('clears host bits and keeps the length', () => {
    assert.deepEqual(parseCidr('10.1.2.3/8'), { family: 4, network: 0x0a000000n, bits: 8, text: '10.1.2.3/8' });
    assert.equal(parseCidr('2001:db8::/32')?.bits, 32);
    assert.equal(parseCidr('192.0.2.7')?.bits, 32);
    assert.equal(parseCidr('::1')?.bits, 128);
  });
  for (const bad of ['10.0.0.0/33', '2001:db8::/129', '10.0.0.0/', '10.0.0.0/x', 'host/24']) {
    it(`refuses ${bad}`, () => assert.equal(parseCidr(bad), undefined));
  }
});

describe('trunk access list: which trunk may send from an address', () => {
  const directory = Directory.build(fixtureData(), PLAN);
  const cases: [string, string | undefined][] = [
    ['192.0.2.10', 'pbx-acme'],
    ['198.51.100.77', 'pbx-acme'],
    ['::ffff:192.0.2.10', 'pbx-acme'],
    ['203.0.113.5', 'carrier-intl'], // an exact address beats the /25 around it
    ['203.0.113.6', 'carrier-a'],
    ['203.0.113.127', 'carrier-a'],
    ['203.0.113.128', 'carrier-b'],
    ['2001:db8:1:2::1', 'pbx-beta'],
    ['[2001:db8:1::5]', 'pbx-beta'],
    ['2001:db8:2::1', undefined],
    ['192.0.2.99', undefined], // a disabled trunk admits nobody
    ['192.0.2.11', undefined],
    ['10.0.0.1', undefined],
    ['not-an-address', undefined],
  ];
  for (const [address, trunk] of cases) {
    it(`${address} → ${trunk ?? 'no trunk (403)'}`, () => assert.equal(directory.matchTrunk(address)?.name, trunk));
  }

  it('the most specific block wins whatever the order of adding', () => {
    const table = new AddressTable<string>();
    table.add(parseCidr('10.0.0.0/8')!, 'wide');
    table.add(parseCidr('10.1.0.0/16')!, 'narrow');
    table.add(parseCidr('10.0.0.0/8')!, 'other');
    assert.equal(table.match('10.1.2.3'), 'narrow');
    assert.equal(table.match('10.2.0.1'), 'wide');
  });

  it('reports the holder of an identical block', () => {
    const table = new AddressTable<string>();
    assert.equal(table.add(parseCidr('10.0.0.0/8')!, 'first'), undefined);
    assert.equal(table.add(parseCidr('10.9.9.9/8')!, 'second'), 'first');
    assert.equal(table.add(parseCidr('2001:db8::1')!, 'first'), undefined);
    assert.equal(table.add(parseCidr('2001:db8:0::1/128')!, 'second'), 'first');
  });
});
