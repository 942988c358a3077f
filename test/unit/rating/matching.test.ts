import assert from 'node:assert/strict';
import { RatingError, type ServiceAttributes } from '../../../lib/rating';
import { DAY, SERVICE, engineFor, rawRuleSet, rule, type TariffSpec } from './fixtures';

const tariffs: TariffSpec[] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12].map((id) => ({ id, steps: [[0, 60, `0.${String(id).padStart(2, '0')}`]] }));
tariffs.push({ id: 13, timeZone: 'Asia/Tokyo', steps: [[0, 60, '0.13']] });

const engine = engineFor(rawRuleSet(tariffs, [
  rule(1, 1),
  rule(2, 2, { destinationPrefix: '49' }),
  rule(3, 3, { destinationPrefix: '4930' }),
  rule(4, 4, { destinationPrefix: '49', priority: 10, callerPlan: 'gold' }),
  rule(5, 5, { destinationPrefix: '49', priority: 5, vpnGroup: 'acme' }),
  rule(6, 6, { destinationPrefix: '44', dayTypeId: DAY.weekend }),
  rule(7, 7, { destinationPrefix: '44', dayTypeId: DAY.weekday, timeFrom: '08:00', timeTo: '18:00' }),
  rule(8, 8, { destinationPrefix: '44', dayTypeId: DAY.weekday, timeFrom: '18:00', timeTo: '08:00' }),
  rule(9, 9, { destinationPrefix: '44', dayTypeId: DAY.holiday }),
  rule(10, 10, { destinationPrefix: '33', priority: 1, validFrom: '2026-12-01 00:00:00', validTo: '2027-01-01 00:00:00' }),
  rule(11, 1, { destinationPrefix: '33' }),
  rule(12, 12, { serviceId: SERVICE.onnet }),
  rule(13, 13, { destinationPrefix: '81', priority: 1, timeFrom: '09:00', timeTo: '17:00' }),
  rule(14, 1, { destinationPrefix: '81' }),
]));

const cases: Array<{ name: string; attrs: Partial<ServiceAttributes>; at: string; rule: number }> = [
  { name: 'the longest destination prefix wins', attrs: { destination: '4930123456' }, at: '2026-11-23T10:00:00Z', rule: 3 },
  { name: 'a shorter prefix applies where no longer one exists', attrs: { destination: '4989123456' }, at: '2026-11-23T10:00:00Z', rule: 2 },
  { name: 'the empty prefix catches every other destination', attrs: { destination: '12125550100' }, at: '2026-11-23T10:00:00Z', rule: 1 },
  { name: 'a caller plan rule with higher priority wins on the same prefix', attrs: { destination: '4989123', callerPlan: 'gold' }, at: '2026-11-23T10:00:00Z', rule: 4 },
  { name: 'a caller plan rule does not apply to other plans', attrs: { destination: '4989123', callerPlan: 'basic' }, at: '2026-11-23T10:00:00Z', rule: 2 },
  { name: 'a VPN group rule applies to that group', attrs: { destination: '4989123', vpnGroup: 'acme' }, at: '2026-11-23T10:00:00Z', rule: 5 },
  { name: 'higher priority decides between plan and group rules', attrs: { destination: '4989123', vpnGroup: 'acme', callerPlan: 'gold' }, at: '2026-11-23T10:00:00Z', rule: 4 },
  { name: 'a longer prefix beats a higher priority', attrs: { destination: '4930123', callerPlan: 'gold' }, at: '2026-11-23T10:00:00Z', rule: 3 },
  { name: 'weekday peak window', attrs: { destination: '4420' }, at: '2026-11-23T10:00:00Z', rule: 7 },
  { name: 'weekday evening after the window edge', attrs: { destination: '4420' }, at: '2026-11-23T18:00:00Z', rule: 8 },
  { name: 'last second of the peak window', attrs: { destination: '4420' }, at: '2026-11-23T17:59:59Z', rule: 7 },
  { name: 'weekday early morning in a window wrapping midnight', attrs: { destination: '4420' }, at: '2026-11-23T03:00:00Z', rule: 8 },
  { name: 'weekend day type', attrs: { destination: '4420' }, at: '2026-11-28T10:00:00Z', rule: 6 },
  { name: 'a holiday overrides its weekday', attrs: { destination: '4420' }, at: '2026-12-25T10:00:00Z', rule: 9 },
  { name: 'before a rule becomes valid', attrs: { destination: '33123' }, at: '2026-11-30T23:59:59Z', rule: 11 },
  { name: 'from the instant a rule becomes valid', attrs: { destination: '33123' }, at: '2026-12-01T00:00:00Z', rule: 10 },
  { name: 'after a rule stops being valid', attrs: { destination: '33123' }, at: '2027-01-01T00:00:00Z', rule: 11 },
  { name: 'the service selects its own rules', attrs: { service: 'voice.onnet', destination: '4930123' }, at: '2026-11-23T10:00:00Z', rule: 12 },
  { name: "a window read in the tariff's time zone (10:00 in Tokyo)", attrs: { destination: '8131234' }, at: '2026-11-23T01:00:00Z', rule: 13 },
  { name: "outside the window in the tariff's time zone (19:00 in Tokyo)", attrs: { destination: '8131234' }, at: '2026-11-23T10:00:00Z', rule: 14 },
];

describe('rating: matching a call to its charging rule', () => {
  for (const c of cases) {
    it(c.name, () => {
      const attrs: ServiceAttributes = { service: 'voice.public', ...c.attrs } as ServiceAttributes;
      const at = new Date(c.at);
      assert.equal(engine.findRule(attrs, at)?.id, c.rule);
      assert.equal(engine.quote(attrs, at).ruleId, c.rule);
    });
  }

  it('refuses with NO_RULE when nothing matches', () => {
    assert.throws(() => engine.quote({ service: 'voice.offnet', destination: '4930' }, new Date('2026-11-23T10:00:00Z')),
      (err: unknown) => err instanceof RatingError && err.code === 'NO_RULE');
  });

  it('binds a quote to its tariff and currency', () => {
    const q = engine.quote({ service: 'voice.public', destination: '4930' }, new Date('2026-11-23T10:00:00Z'));
    assert.deepEqual([q.ruleId, q.tariffId, q.currency, q.firstStepSeconds], [3, 3, 'EUR', 60]);
  });
});
