import assert from 'node:assert/strict';
import { formatMoney } from '../../../lib/common/money';
import type { CallQuote, RatingEngine, ServiceAttributes } from '../../../lib/rating';
import { DAY, engineFor, prng, rawRuleSet, rule, type TariffSpec } from './fixtures';

const CAP = 20_000;
const ATTRS: ServiceAttributes = { service: 'voice.public', destination: '4420' };

function randomMicros(rand: () => number, maxUnits: number): string {
  return formatMoney(BigInt(Math.floor(rand() * maxUnits * 1_000_000)));
}

/** A random tariff: 1-3 steps on an aligned grid, six-decimal prices, some fees and free seconds. */
function randomTariff(rand: () => number, id: number): TariffSpec {
  const incs = [1, 1, 6, 10, 30, 60];
  const steps: Array<[number, number, string]> = [];
  let from = 0;
  const n = 1 + Math.floor(rand() * 3);
  for (let i = 0; i < n; i++) {
    const inc = incs[Math.floor(rand() * incs.length)]!;
    steps.push([from, inc, rand() < 0.1 ? '0' : randomMicros(rand, 0.5)]);
    from += inc * (1 + Math.floor(rand() * 5));
  }
  return {
    id, steps,
    connectFee: rand() < 0.5 ? '0' : randomMicros(rand, 0.3),
    minimumCharge: rand() < 0.6 ? '0' : randomMicros(rand, 1),
    freeSeconds: rand() < 0.7 ? 0 : Math.floor(rand() * 30),
  };
}

/** Random peak/off-peak/weekend rules whose bands a call crosses, so inverse and crossings meet. */
function randomEngine(seed: number): { engine: RatingEngine; start: Date } {
  const rand = prng(seed);
  const edge1 = Math.floor(rand() * 12 * 60), edge2 = 12 * 60 + Math.floor(rand() * 12 * 60);
  const hhmm = (m: number): string => `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
  const engine = engineFor(rawRuleSet([randomTariff(rand, 1), randomTariff(rand, 2), randomTariff(rand, 3)], [
    rule(1, 1, { destinationPrefix: '44', dayTypeId: DAY.weekday, timeFrom: hhmm(edge1), timeTo: hhmm(edge2) }),
    rule(2, 2, { destinationPrefix: '44', dayTypeId: DAY.weekday, timeFrom: hhmm(edge2), timeTo: hhmm(edge1) }),
    rule(3, 3, { destinationPrefix: '4', dayTypeId: DAY.weekend }),
    rule(4, 2, { destinationPrefix: '4', dayTypeId: DAY.holiday }),
  ]), CAP);
  // Somewhere in the week of Christmas 2026, at a whole second.
  const start = new Date(Date.UTC(2026, 11, 21) + Math.floor(rand() * 7 * 86400) * 1000);
  return { engine, start };
}

/** Brute-force reference: every increment priced by the rule found for its start instant. */
function referencePrice(engine: RatingEngine, quote: CallQuote, seconds: number): bigint {
  if (seconds <= quote.freeSeconds) return 0n;
  let total = quote.connectFee;
  let rule = quote.rule;
  for (let c = 0, guard = 0; c < seconds - quote.freeSeconds && guard < 100_000; guard++) {
    rule = engine.findRule(ATTRS, quote.startMs + (quote.freeSeconds + c) * 1000) ?? rule;
    const steps = rule.tariff.steps;
    let i = 0;
    while (i + 1 < steps.length && steps[i + 1]!.fromSecond <= c) i++;
    total += steps[i]!.pricePerIncrement;
    c += steps[i]!.incrementSeconds;
  }
  return total > quote.minimumCharge ? total : quote.minimumCharge;
}

describe('rating: the inverse, maxSeconds', () => {
  const seeds = Array.from({ length: 60 }, (_, i) => 1000 + i);

  it('on 60 random tariffs × 40 random amounts: price(maxSeconds(m)) <= m and one second more costs more than m', () => {
    let checked = 0;
    for (const seed of seeds) {
      const { engine, start } = randomEngine(seed);
      const quote = engine.quote(ATTRS, start);
      const rand = prng(seed * 7 + 1);
      for (let k = 0; k < 40; k++) {
        const money = BigInt(Math.floor(rand() * (k < 5 ? 2 : 400) * 1_000_000));
        const s = quote.maxSeconds(money);
        const at = quote.price(s);
        assert.ok(at <= money, `seed ${seed}: price(${s}) = ${at} > ${money}`);
        if (s < CAP) {
          const more = quote.price(s + 1);
          assert.ok(more > money, `seed ${seed}: price(${s + 1}) = ${more} <= ${money}, maxSeconds too small`);
        }
        checked++;
      }
    }
    assert.equal(checked, seeds.length * 40);
  });

  it('on random tariffs the piecewise price equals increment-by-increment pricing', () => {
    for (const seed of seeds) {
      const { engine, start } = randomEngine(seed);
      const quote = engine.quote(ATTRS, start);
      const rand = prng(seed * 13 + 5);
      for (let k = 0; k < 10; k++) {
        const seconds = Math.floor(rand() * 4 * 3600);
        assert.equal(quote.price(seconds), referencePrice(engine, quote, seconds), `seed ${seed}, ${seconds} s`);
      }
    }
  });

  it('price never decreases as seconds grow', () => {
    for (const seed of seeds.slice(0, 10)) {
      const { engine, start } = randomEngine(seed);
      const q = engine.quote(ATTRS, start);
      let prev = 0n;
      for (let s = 0; s <= 3000; s += 7) {
        const p = q.price(s);
        assert.ok(p >= prev, `seed ${seed}: price(${s}) = ${p} < ${prev}`);
        prev = p;
      }
    }
  });

  const table: Array<{ name: string; tariff: Omit<TariffSpec, 'id'>; money: string; seconds: number }> = [
    { name: 'no money buys nothing', tariff: { steps: [[0, 60, '0.10']] }, money: '0', seconds: 0 },
    { name: 'a whole first minute', tariff: { steps: [[0, 60, '0.10']] }, money: '0.10', seconds: 60 },
    { name: 'one micro-unit short of the second minute', tariff: { steps: [[0, 60, '0.10']] }, money: '0.199999', seconds: 60 },
    { name: 'connect fee first', tariff: { connectFee: '0.05', steps: [[0, 1, '0.01']] }, money: '0.10', seconds: 5 },
    { name: 'below the minimum charge only the free seconds', tariff: { freeSeconds: 4, minimumCharge: '1', steps: [[0, 1, '0.01']] }, money: '0.99', seconds: 4 },
    { name: 'at the minimum charge', tariff: { minimumCharge: '1', steps: [[0, 1, '0.01']] }, money: '1', seconds: 100 },
    { name: 'free seconds on top', tariff: { freeSeconds: 10, steps: [[0, 6, '0.06']] }, money: '0.60', seconds: 70 },
    { name: 'a free tariff is capped', tariff: { steps: [[0, 60, '0']] }, money: '0', seconds: CAP },
    { name: 'across steps', tariff: { steps: [[0, 60, '0.60'], [60, 1, '0.01']] }, money: '1.00', seconds: 100 },
  ];
  for (const c of table) {
    it(`${c.name}: ${c.money} buys ${c.seconds} s`, () => {
      const q = engineFor(rawRuleSet([{ id: 1, ...c.tariff }], [rule(1, 1)]), CAP).quote({ service: 'voice.public', destination: '1' }, new Date('2026-11-23T12:00:00Z'));
      assert.equal(q.maxSeconds(BigInt(Math.round(Number(c.money) * 1e6))), c.seconds);
    });
  }
});
