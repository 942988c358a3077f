import assert from 'node:assert/strict';
import { formatMoney } from '../../../lib/common/money';
import { RatingError } from '../../../lib/rating';
import { DAY, engineFor, rawRuleSet, rule, type TariffSpec } from './fixtures';

const MONDAY_NOON = new Date('2026-11-23T12:00:00Z');

interface TariffCase {
  name: string;
  tariff: Omit<TariffSpec, 'id'>;
  /** [billable seconds, expected price] */
  prices: Array<[number, string]>;
}

const tariffCases: TariffCase[] = [
  { name: 'per minute, rounded up to the minute', tariff: { steps: [[0, 60, '0.10']] },
    prices: [[0, '0.000000'], [1, '0.100000'], [60, '0.100000'], [61, '0.200000'], [3600, '6.000000']] },
  { name: 'first minute whole, then per second', tariff: { steps: [[0, 60, '0.60'], [60, 1, '0.01']] },
    prices: [[1, '0.600000'], [60, '0.600000'], [61, '0.610000'], [125, '1.250000']] },
  { name: '30 s increments then 6 s increments', tariff: { steps: [[0, 30, '0.05'], [60, 6, '0.012']] },
    prices: [[31, '0.100000'], [61, '0.112000'], [66, '0.112000'], [67, '0.124000']] },
  { name: 'a connect fee is charged once', tariff: { connectFee: '0.25', steps: [[0, 1, '0.001']] },
    prices: [[0, '0.000000'], [1, '0.251000'], [10, '0.260000'], [600, '0.850000']] },
  { name: 'a minimum charge lifts short calls', tariff: { minimumCharge: '0.50', steps: [[0, 1, '0.01']] },
    prices: [[1, '0.500000'], [10, '0.500000'], [50, '0.500000'], [51, '0.510000']] },
  { name: 'free seconds come before the first increment', tariff: { freeSeconds: 10, steps: [[0, 60, '0.10']] },
    prices: [[10, '0.000000'], [11, '0.100000'], [70, '0.100000'], [71, '0.200000']] },
  { name: 'free seconds, connect fee and minimum together', tariff: { freeSeconds: 5, connectFee: '0.10', minimumCharge: '0.30', steps: [[0, 1, '0.01']] },
    prices: [[5, '0.000000'], [6, '0.300000'], [25, '0.300000'], [40, '0.450000']] },
  { name: 'six-decimal per-second rate over a day', tariff: { steps: [[0, 1, '0.123457']] },
    prices: [[86399, '10666.561343'], [1, '0.123457']] },
  { name: 'one micro-unit per second', tariff: { steps: [[0, 1, '0.000001']] },
    prices: [[86400, '0.086400']] },
  { name: 'seven-second increments of 1.000001 over 100,000 s', tariff: { steps: [[0, 7, '1.000001']] },
    prices: [[100000, '14286.014286']] },
];

describe('rating: pricing a call under one tariff', () => {
  for (const c of tariffCases) {
    const engine = engineFor(rawRuleSet([{ id: 1, ...c.tariff }], [rule(1, 1)]), 200_000);
    const quote = engine.quote({ service: 'voice.public', destination: '4930' }, MONDAY_NOON);
    for (const [seconds, expected] of c.prices) {
      it(`${c.name}: ${seconds} s cost ${expected}`, () => {
        assert.equal(formatMoney(quote.price(seconds)), expected);
        assert.equal(formatMoney(quote.priceBreakdown(seconds).total), expected);
      });
    }
  }

  it('explains a price: connect fee, pieces and the minimum', () => {
    const engine = engineFor(rawRuleSet([{ id: 1, connectFee: '0.10', minimumCharge: '1.00', steps: [[0, 60, '0.60'], [60, 1, '0.01']] }], [rule(7, 1)]));
    const b = engine.quote({ service: 'voice.public', destination: '49' }, MONDAY_NOON).priceBreakdown(65);
    assert.deepEqual(
      { rule: b.ruleId, tariff: b.tariffId, charged: b.chargedSeconds, subtotal: formatMoney(b.subtotal), min: b.minimumApplied, total: formatMoney(b.total) },
      { rule: 7, tariff: 1, charged: 65, subtotal: '0.750000', min: true, total: '1.000000' },
    );
    assert.deepEqual(b.pieces.map((p) => [p.fromSecond, p.toSecond, p.increments, formatMoney(p.amount)]), [[0, 60, 1, '0.600000'], [60, 65, 5, '0.050000']]);
  });

  it('prices an extension as the difference of the two prices', () => {
    const engine = engineFor(rawRuleSet([{ id: 1, connectFee: '0.05', steps: [[0, 60, '0.60'], [60, 1, '0.01']] }], [rule(1, 1)]));
    const q = engine.quote({ service: 'voice.public', destination: '49' }, MONDAY_NOON);
    assert.equal(formatMoney(q.extensionPrice(0, 300)), '3.050000');
    assert.equal(formatMoney(q.extensionPrice(300, 600)), '3.000000');
    assert.equal(q.extensionPrice(30, 60), 0n);
  });

  it('refuses fractional or negative seconds', () => {
    const q = engineFor(rawRuleSet([{ id: 1, steps: [[0, 1, '0.01']] }], [rule(1, 1)])).quote({ service: 'voice.public', destination: '1' }, MONDAY_NOON);
    for (const s of [1.5, -1, Number.NaN]) assert.throws(() => q.price(s), (e: unknown) => e instanceof RatingError && e.code === 'BAD_SECONDS');
  });
});

describe('rating: a call crossing bands, day types, holidays and validity dates', () => {
  const tariffs: TariffSpec[] = [
    { id: 7, connectFee: '0.20', steps: [[0, 60, '0.60']] }, // weekday peak
    { id: 8, connectFee: '0.99', steps: [[0, 60, '0.12']] }, // weekday off-peak
    { id: 6, steps: [[0, 60, '0.06']] }, // weekend
    { id: 9, steps: [[0, 60, '0.03']] }, // holiday
    { id: 1, steps: [[0, 60, '0.50']] },
    { id: 10, steps: [[0, 60, '0.05']] },
    { id: 20, timeZone: 'Europe/Berlin', steps: [[0, 60, '1.00']] }, // Berlin peak
    { id: 21, timeZone: 'Europe/Berlin', steps: [[0, 60, '0.10']] }, // Berlin off-peak
  ];
  const engine = engineFor(rawRuleSet(tariffs, [
    rule(7, 7, { destinationPrefix: '44', dayTypeId: DAY.weekday, timeFrom: '08:00', timeTo: '18:00' }),
    rule(8, 8, { destinationPrefix: '44', dayTypeId: DAY.weekday, timeFrom: '18:00', timeTo: '08:00' }),
    rule(6, 6, { destinationPrefix: '44', dayTypeId: DAY.weekend }),
    rule(9, 9, { destinationPrefix: '44', dayTypeId: DAY.holiday }),
    rule(11, 1, { destinationPrefix: '33' }),
    rule(10, 10, { destinationPrefix: '33', priority: 1, validFrom: '2026-12-01' }),
    rule(20, 20, { destinationPrefix: '41', timeFrom: '08:00', timeTo: '18:00' }),
    rule(21, 21, { destinationPrefix: '41', timeFrom: '18:00', timeTo: '08:00' }),
  ]));

  const cases: Array<{ name: string; destination: string; start: string; seconds: number; price: string; rules: number[] }> = [
    { name: 'peak into off-peak at 18:00', destination: '4420', start: '2026-11-23T17:58:00Z', seconds: 300, price: '1.760000', rules: [7, 8] },
    { name: 'an increment straddling the band edge is priced by the band it starts in', destination: '4420', start: '2026-11-23T17:58:30Z', seconds: 120, price: '1.400000', rules: [7] },
    { name: 'the first increment after the edge takes the new band', destination: '4420', start: '2026-11-23T17:58:30Z', seconds: 121, price: '1.520000', rules: [7, 8] },
    { name: 'off-peak into peak at 08:00', destination: '4420', start: '2026-11-24T07:59:00Z', seconds: 120, price: '1.710000', rules: [8, 7] },
    { name: 'Friday night into the weekend at midnight', destination: '4420', start: '2026-11-27T23:59:00Z', seconds: 180, price: '1.230000', rules: [8, 6] },
    { name: 'Christmas Eve into the holiday', destination: '4420', start: '2026-12-24T23:59:00Z', seconds: 180, price: '1.170000', rules: [8, 9] },
    { name: 'holiday into the next weekend day', destination: '4420', start: '2026-12-25T23:59:00Z', seconds: 120, price: '0.090000', rules: [9, 6] },
    { name: 'a rule becoming valid mid-call', destination: '3312', start: '2026-11-30T23:58:00Z', seconds: 240, price: '1.100000', rules: [11, 10] },
    // 2 × (840 off-peak minutes × 0.12 + 600 peak minutes × 0.60) + the off-peak connect fee 0.99
    { name: 'a two-day call returns to each band in turn', destination: '4420', start: '2026-11-23T00:00:00Z', seconds: 2 * 86400, price: '922.590000', rules: [8, 7, 8, 7, 8] },
    { name: 'summer time: 08:00 in Berlin is 06:00 UTC', destination: '4130', start: '2026-03-30T05:58:00Z', seconds: 180, price: '1.200000', rules: [21, 20] },
    { name: 'winter time: 08:00 in Berlin is 07:00 UTC', destination: '4130', start: '2026-01-05T06:58:00Z', seconds: 180, price: '1.200000', rules: [21, 20] },
    { name: 'the night of the change to summer time', destination: '4130', start: '2026-03-29T00:58:00Z', seconds: 180, price: '0.300000', rules: [21] },
  ];

  for (const c of cases) {
    it(c.name, () => {
      const q = engine.quote({ service: 'voice.public', destination: c.destination }, new Date(c.start));
      const b = q.priceBreakdown(c.seconds);
      assert.equal(formatMoney(q.price(c.seconds)), c.price);
      assert.equal(formatMoney(b.total), c.price);
      assert.deepEqual(b.pieces.map((p) => p.ruleId), c.rules);
      assert.equal(b.pieces.reduce((s, p) => s + p.amount, b.connectFee), b.subtotal);
    });
  }
});
