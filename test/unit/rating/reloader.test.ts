import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import winston from 'winston';
import { formatMoney } from '../../../lib/common/money';
import { RatingError, RatingReloader, type RawRuleSet, type RuleSetSource } from '../../../lib/rating';
import { rawRuleSet, rule } from './fixtures';

class FakeSource implements RuleSetSource {
  version = 1;
  constructor(public raw: RawRuleSet) {}
  async fingerprint(): Promise<string> { return String(this.version); }
  async load(): Promise<RawRuleSet> { return structuredClone(this.raw); }
}

function capturingLogger(): { logger: winston.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({ objectMode: true, write(info: Record<string, unknown>, _enc, done) { lines.push(info); done(); } });
  return { logger: winston.createLogger({ level: 'debug', transports: [new winston.transports.Stream({ stream })] }), lines };
}

const ATTRS = { service: 'voice.public', destination: '4930' };
const NOON = new Date('2026-11-23T12:00:00Z');

describe('rating: reloading the rule set', () => {
  it('swaps in an edited rule set when the tables change, and only then', async () => {
    const source = new FakeSource(rawRuleSet([{ id: 1, steps: [[0, 60, '0.10']] }], [rule(1, 1)]));
    const { logger } = capturingLogger();
    const { service, reloader } = await RatingReloader.create(source, { intervalMs: 10, logger });
    assert.equal(formatMoney(service.quote(ATTRS, NOON).price(60)), '0.100000');
    assert.deepEqual(await reloader.reloadIfChanged(), { kind: 'unchanged' });
    source.raw.tariffSteps[0]!.pricePerIncrement = '0.25';
    source.version++;
    const outcome = await reloader.reloadIfChanged();
    assert.equal(outcome.kind, 'swapped');
    assert.equal(formatMoney(service.quote(ATTRS, NOON).price(60)), '0.250000');
    assert.equal(service.version, 2);
  });

  it('rejects a broken edit, keeps the prices in force and logs each problem with table and row', async () => {
    const source = new FakeSource(rawRuleSet([{ id: 1, steps: [[0, 60, '0.10']] }], [rule(1, 1)]));
    const { logger, lines } = capturingLogger();
    const { service, reloader } = await RatingReloader.create(source, { intervalMs: 10, logger });
    source.raw.tariffSteps[0]!.pricePerIncrement = '-0.10';
    source.raw.chargingRules.push(rule(2, 1));
    source.version++;
    const outcome = await reloader.reloadIfChanged();
    assert.equal(outcome.kind, 'rejected');
    assert.equal(formatMoney(service.quote(ATTRS, NOON).price(60)), '0.100000');
    const logged = lines.filter((l) => l.message === 'rating rule problem').map((l) => `${String(l.table)}#${String(l.rowId)}`).sort();
    assert.deepEqual(logged, ['charging_rules#2', 'tariff_steps#1']);
    // The same broken set is reported once, not at every poll.
    assert.deepEqual(await reloader.reloadIfChanged(), { kind: 'unchanged' });
  });

  it('polls on its own interval once started and stops cleanly', async () => {
    const source = new FakeSource(rawRuleSet([{ id: 1, steps: [[0, 60, '0.10']] }], [rule(1, 1)]));
    const { service, reloader } = await RatingReloader.create(source, { intervalMs: 5, logger: capturingLogger().logger });
    reloader.start();
    try {
      source.raw.tariffSteps[0]!.pricePerIncrement = '0.30';
      source.version++;
      for (let i = 0; i < 100 && service.version === 1; i++) await new Promise((r) => setTimeout(r, 5));
      assert.equal(formatMoney(service.quote(ATTRS, NOON).price(60)), '0.300000');
    } finally {
      reloader.stop();
      await reloader.settle();
    }
  });

  it('refuses to start on an invalid rule set', async () => {
    const source = new FakeSource(rawRuleSet([{ id: 1, steps: [[0, 60, '0.10']] }], [rule(1, 9)]));
    await assert.rejects(RatingReloader.create(source, { intervalMs: 10, logger: capturingLogger().logger }),
      (e: unknown) => e instanceof RatingError && e.code === 'RULESET_INVALID' && /charging_rules row 1: unknown tariff 9/.test(e.message));
  });
});
