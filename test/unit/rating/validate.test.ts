import assert from 'node:assert/strict';
import { validateRuleSet, type RawRuleSet, type RuleProblem } from '../../../lib/rating';
import fs from 'node:fs';
import path from 'node:path';
import { formatProblems } from '../../../lib/rating';
import { parseTableCsv } from '../../../lib/rating/csv';
import { RATING_TABLE_NAMES, emptyTables, rowsToRawRuleSet } from '../../../lib/rating/tables';
import { DAY, SERVICE, engineFor, rawRuleSet, rule, type TariffSpec } from './fixtures';

const perMinute: TariffSpec = { id: 1, steps: [[0, 60, '0.10']] };
const base = (): RawRuleSet => rawRuleSet([perMinute, { id: 2, steps: [[0, 1, '0.001']] }], [rule(1, 1), rule(2, 2, { destinationPrefix: '49' })]);

interface Case {
  name: string;
  edit: (raw: RawRuleSet) => void;
  expect: { table: string; rowId: number | string; reason: RegExp };
}

const cases: Case[] = [
  { name: 'a rule naming an unknown service', edit: (r) => { r.chargingRules[0]!.serviceId = 99; }, expect: { table: 'charging_rules', rowId: 1, reason: /unknown service 99/ } },
  { name: 'a rule naming an unknown tariff', edit: (r) => { r.chargingRules[1]!.tariffId = 77; }, expect: { table: 'charging_rules', rowId: 2, reason: /unknown tariff 77/ } },
  { name: 'a rule naming an unknown day type', edit: (r) => { r.chargingRules[0]!.dayTypeId = 9; }, expect: { table: 'charging_rules', rowId: 1, reason: /unknown day type 9/ } },
  { name: 'a prefix with a plus sign', edit: (r) => { r.chargingRules[1]!.destinationPrefix = '+49'; }, expect: { table: 'charging_rules', rowId: 2, reason: /malformed destination prefix/ } },
  { name: 'a prefix with letters', edit: (r) => { r.chargingRules[1]!.destinationPrefix = '49a'; }, expect: { table: 'charging_rules', rowId: 2, reason: /malformed destination prefix/ } },
  { name: 'a time window with only a start', edit: (r) => { r.chargingRules[0]!.timeFrom = '08:00'; }, expect: { table: 'charging_rules', rowId: 1, reason: /set together/ } },
  { name: 'a time window hour 25', edit: (r) => { Object.assign(r.chargingRules[0]!, { timeFrom: '25:00', timeTo: '08:00' }); }, expect: { table: 'charging_rules', rowId: 1, reason: /malformed time_from/ } },
  { name: 'a time window minute 60', edit: (r) => { Object.assign(r.chargingRules[0]!, { timeFrom: '08:00', timeTo: '08:60' }); }, expect: { table: 'charging_rules', rowId: 1, reason: /malformed time_to/ } },
  { name: 'validity that ends before it starts', edit: (r) => { Object.assign(r.chargingRules[0]!, { validFrom: '2026-02-01', validTo: '2026-01-01' }); }, expect: { table: 'charging_rules', rowId: 1, reason: /valid_from must be before valid_to/ } },
  { name: 'a malformed validity date', edit: (r) => { r.chargingRules[0]!.validFrom = '2026-13-45'; }, expect: { table: 'charging_rules', rowId: 1, reason: /malformed valid_from/ } },
  { name: 'a negative step price', edit: (r) => { r.tariffSteps[0]!.pricePerIncrement = '-0.10'; }, expect: { table: 'tariff_steps', rowId: 1, reason: /negative/ } },
  { name: 'a negative connect fee', edit: (r) => { r.tariffs[0]!.connectFee = '-1'; }, expect: { table: 'tariffs', rowId: 1, reason: /connect_fee is negative/ } },
  { name: 'a minimum charge with seven decimals', edit: (r) => { r.tariffs[0]!.minimumCharge = '0.0000001'; }, expect: { table: 'tariffs', rowId: 1, reason: /more than 6 decimal places/ } },
  { name: 'a price that is not a number', edit: (r) => { r.tariffSteps[0]!.pricePerIncrement = 'ten'; }, expect: { table: 'tariff_steps', rowId: 1, reason: /price_per_increment/ } },
  { name: 'negative free seconds', edit: (r) => { r.tariffs[0]!.freeSeconds = -5; }, expect: { table: 'tariffs', rowId: 1, reason: /free_seconds/ } },
  { name: 'a zero increment', edit: (r) => { r.tariffSteps[0]!.incrementSeconds = 0; }, expect: { table: 'tariff_steps', rowId: 1, reason: /increment_seconds/ } },
  { name: 'a first step that does not start at 0', edit: (r) => { r.tariffSteps[0]!.fromSecond = 30; }, expect: { table: 'tariff_steps', rowId: 1, reason: /must start at second 0/ } },
  { name: 'two steps from the same second', edit: (r) => { r.tariffSteps.push({ id: 50, tariffId: 1, fromSecond: 0, incrementSeconds: 1, pricePerIncrement: '0.01' }); }, expect: { table: 'tariff_steps', rowId: 50, reason: /overlaps step 1/ } },
  { name: 'a step that starts inside the previous increment', edit: (r) => { r.tariffSteps.push({ id: 51, tariffId: 1, fromSecond: 90, incrementSeconds: 1, pricePerIncrement: '0.01' }); }, expect: { table: 'tariff_steps', rowId: 51, reason: /run past second 90/ } },
  { name: 'a step of an unknown tariff', edit: (r) => { r.tariffSteps.push({ id: 52, tariffId: 40, fromSecond: 0, incrementSeconds: 1, pricePerIncrement: '0.01' }); }, expect: { table: 'tariff_steps', rowId: 52, reason: /unknown tariff 40/ } },
  { name: 'a tariff without steps', edit: (r) => { r.tariffSteps = r.tariffSteps.filter((s) => s.tariffId !== 2); }, expect: { table: 'tariffs', rowId: 2, reason: /no steps/ } },
  { name: 'a lower-case currency', edit: (r) => { r.tariffs[0]!.currency = 'eur'; }, expect: { table: 'tariffs', rowId: 1, reason: /malformed currency/ } },
  { name: 'an unknown tariff time zone', edit: (r) => { r.tariffs[0]!.timeZone = 'Mars/Olympus'; }, expect: { table: 'tariffs', rowId: 1, reason: /unknown time zone/ } },
  { name: 'an unknown default time zone', edit: (r) => { r.defaultTimeZone = 'Nowhere/City'; }, expect: { table: 'config', rowId: 'rating.timeZone', reason: /unknown time zone/ } },
  { name: 'mixed currencies on one destination path', edit: (r) => { r.tariffs[1]!.currency = 'USD'; }, expect: { table: 'charging_rules', rowId: 2, reason: /mixed currencies/ } },
  { name: 'a holiday on a malformed date', edit: (r) => { r.holidays[0]!.date = '2026-02-30'; }, expect: { table: 'holidays', rowId: 1, reason: /malformed date/ } },
  { name: 'a holiday of an unknown day type', edit: (r) => { r.holidays[0]!.dayTypeId = 8; }, expect: { table: 'holidays', rowId: 1, reason: /unknown day type 8/ } },
  { name: 'the same date twice in the calendar', edit: (r) => { r.holidays.push({ id: 2, date: '2026-12-25', dayTypeId: DAY.weekend }); }, expect: { table: 'holidays', rowId: 2, reason: /already listed by holiday 1/ } },
  { name: 'a weekday in two day types', edit: (r) => { r.dayTypes[1]!.weekdays = 'fri,sat,sun'; }, expect: { table: 'day_types', rowId: 2, reason: /already covered by day type 1/ } },
  { name: 'an unknown weekday', edit: (r) => { r.dayTypes[1]!.weekdays = 'sat,sunny'; }, expect: { table: 'day_types', rowId: 2, reason: /unknown weekday "sunny"/ } },
  { name: 'a duplicate service code', edit: (r) => { r.services.push({ id: 4, code: 'voice.onnet' }); }, expect: { table: 'services', rowId: 4, reason: /duplicate service code/ } },
  { name: 'two rules equally specific for every call', edit: (r) => { r.chargingRules.push(rule(3, 1, { destinationPrefix: '49' })); }, expect: { table: 'charging_rules', rowId: 3, reason: /ambiguous with rule 2/ } },
  { name: 'a plan rule beside an any-plan rule at the same priority', edit: (r) => { r.chargingRules.push(rule(3, 1, { destinationPrefix: '49', callerPlan: 'gold' })); }, expect: { table: 'charging_rules', rowId: 3, reason: /ambiguous with rule 2/ } },
  { name: 'overlapping time windows at the same priority', edit: (r) => { r.chargingRules.push(rule(3, 1, { timeFrom: '08:00', timeTo: '18:00' }), rule(4, 1, { timeFrom: '17:00', timeTo: '09:00' })); r.chargingRules[0]!.priority = -1; }, expect: { table: 'charging_rules', rowId: 4, reason: /ambiguous with rule 3/ } },
  { name: 'overlapping validity at the same priority', edit: (r) => { r.chargingRules.push(rule(3, 1, { destinationPrefix: '49', validFrom: '2026-01-01' })); r.chargingRules[1]!.validTo = '2026-01-02'; }, expect: { table: 'charging_rules', rowId: 3, reason: /ambiguous with rule 2/ } },
];

describe('rating: validateRuleSet', () => {
  it('accepts a well-formed rule set and indexes every rule', () => {
    const v = validateRuleSet(base());
    assert.equal(v.ok, true);
    if (v.ok) assert.equal(v.ruleSet.ruleCount, 2);
  });

  for (const c of cases) {
    it(`rejects ${c.name}, naming the table and row`, () => {
      const raw = base();
      c.edit(raw);
      const v = validateRuleSet(raw);
      assert.equal(v.ok, false, 'expected the rule set to be rejected');
      const problems: RuleProblem[] = v.ok ? [] : v.problems;
      const hit = problems.find((p) => p.table === c.expect.table && p.rowId === c.expect.rowId && c.expect.reason.test(p.reason));
      assert.ok(hit, `no problem ${c.expect.table}#${c.expect.rowId} ~ ${c.expect.reason}; got ${JSON.stringify(problems)}`);
    });
  }

  it('reports every problem of a set, not just the first', () => {
    const raw = base();
    raw.chargingRules[0]!.serviceId = 99;
    raw.tariffSteps[0]!.pricePerIncrement = '-1';
    raw.holidays[0]!.date = 'soon';
    const v = validateRuleSet(raw);
    assert.equal(v.ok, false);
    if (!v.ok) assert.deepEqual(v.problems.map((p) => `${p.table}#${p.rowId}`).sort(), ['charging_rules#1', 'holidays#1', 'tariff_steps#1']);
  });

  const distinct: Array<[string, (r: RawRuleSet) => void]> = [
    ['different caller plans', (r) => { r.chargingRules.push(rule(3, 1, { destinationPrefix: '49', callerPlan: 'gold' })); r.chargingRules[1]!.callerPlan = 'basic'; }],
    ['different VPN groups', (r) => { r.chargingRules.push(rule(3, 1, { destinationPrefix: '49', vpnGroup: 'acme' })); r.chargingRules[1]!.vpnGroup = 'globex'; }],
    ['different day types', (r) => { r.chargingRules.push(rule(3, 1, { destinationPrefix: '49', dayTypeId: DAY.weekend })); r.chargingRules[1]!.dayTypeId = DAY.weekday; }],
    ['adjacent time windows', (r) => { r.chargingRules.push(rule(3, 1, { destinationPrefix: '49', timeFrom: '08:00', timeTo: '20:00' })); Object.assign(r.chargingRules[1]!, { timeFrom: '20:00', timeTo: '08:00' }); }],
    ['adjacent validity periods', (r) => { r.chargingRules.push(rule(3, 1, { destinationPrefix: '49', validFrom: '2026-06-01' })); r.chargingRules[1]!.validTo = '2026-06-01 00:00:00'; }],
    ['different priorities', (r) => { r.chargingRules.push(rule(3, 1, { destinationPrefix: '49', priority: 5 })); }],
    ['different services', (r) => { r.chargingRules.push(rule(3, 1, { destinationPrefix: '49', serviceId: SERVICE.offnet })); }],
  ];
  for (const [name, edit] of distinct) {
    it(`accepts two rules on one prefix with ${name}`, () => {
      const raw = base();
      edit(raw);
      const v = validateRuleSet(raw);
      assert.equal(v.ok, true, v.ok ? '' : JSON.stringify(v.problems));
    });
  }

  for (const [from, to] of [['00:00', '24:00'], ['08:00', '08:00'], ['17:30:15', '17:30:15']]) {
    it(`accepts the window ${from}-${to} as the whole day (to <= from wraps)`, () => {
      const engine = engineFor(rawRuleSet([perMinute, { id: 2, steps: [[0, 1, '0.001']] }], [
        rule(1, 1, { timeFrom: from, timeTo: to, priority: 1 }), rule(2, 2),
      ]));
      for (const at of ['2026-11-23T00:00:00Z', '2026-11-23T07:59:59Z', '2026-11-23T08:00:00Z', '2026-11-23T17:30:15Z', '2026-11-23T23:59:59Z']) {
        assert.equal(engine.findRule({ service: 'voice.public', destination: '4930' }, new Date(at))?.id, 1, `at ${at}`);
      }
    });
  }

  it('a tariff in an unknown time zone is one problem on its row, with no ambiguity lines about its rules', () => {
    const raw = rawRuleSet([perMinute, { id: 2, steps: [[0, 1, '0.001']], timeZone: 'Europe/Berln' }], [
      rule(1, 1, { timeFrom: '08:00', timeTo: '18:00' }), rule(2, 2, { timeFrom: '18:00', timeTo: '08:00' }), rule(3, 2, { destinationPrefix: '49', dayTypeId: DAY.weekend }),
    ], { defaultTimeZone: 'Europe/Berlin' });
    const v = validateRuleSet(raw);
    assert.equal(v.ok, false);
    assert.deepEqual(v.ok ? [] : formatProblems(v.problems), ['tariffs row 2: unknown time zone "Europe/Berln"']);
  });

  it('an unknown rating.timeZone is one problem, not one per rule', () => {
    const raw = rawRuleSet([perMinute], [rule(1, 1, { timeFrom: '08:00', timeTo: '18:00' }), rule(2, 1, { timeFrom: '18:00', timeTo: '08:00' })], { defaultTimeZone: 'Nowhere/City' });
    const v = validateRuleSet(raw);
    assert.deepEqual(v.ok ? [] : formatProblems(v.problems), ['config row rating.timeZone: unknown time zone "Nowhere/City"']);
  });

  it('reports mixed currencies beside the other problems, not only once they are fixed', () => {
    const raw = base();
    raw.tariffs[1]!.currency = 'USD';
    raw.holidays[0]!.date = 'soon';
    raw.tariffs[0]!.connectFee = '-1';
    const v = validateRuleSet(raw);
    assert.equal(v.ok, false);
    const lines = v.ok ? [] : formatProblems(v.problems);
    assert.ok(lines.some((l) => /^charging_rules row 2: mixed currencies/.test(l)), lines.join('\n'));
    assert.ok(lines.some((l) => /^holidays row 1: malformed date/.test(l)), lines.join('\n'));
    assert.ok(lines.some((l) => /^tariffs row 1: connect_fee is negative/.test(l)), lines.join('\n'));
  });

  it('names rows without a usable id by their place in the table and says what is missing, never NaN', () => {
    const dir = path.resolve(__dirname, '../../../../lib/rating/examples');
    const tables = emptyTables();
    for (const t of RATING_TABLE_NAMES) tables[t] = parseTableCsv(t, fs.readFileSync(path.join(dir, `${t}.csv`), 'utf8'));
    tables.services[1]!.id = '';
    tables.tariffs[2]!.id = 'three';
    tables.tariff_steps[0]!.tariff_id = null;
    tables.tariff_steps[1]!.id = null;
    tables.holidays[0]!.id = '';
    tables.charging_rules[0]!.priority = '';
    tables.charging_rules[1]!.service_id = 'x';
    const v = validateRuleSet(rowsToRawRuleSet(tables, 'Europe/Berlin'));
    assert.equal(v.ok, false);
    const lines = v.ok ? [] : formatProblems(v.problems);
    assert.ok(!lines.some((l) => l.includes('NaN')), lines.join('\n'));
    for (const expected of [
      'services row #2: id is missing or not a number',
      'tariffs row #3: id is missing or not a number',
      'tariff_steps row 1: tariff_id is missing or not a number',
      'tariff_steps row #2: id is missing or not a number',
      'holidays row #1: id is missing or not a number',
      'charging_rules row 1: priority must be a whole number, got nothing (empty or not a number)',
      'charging_rules row 2: service_id is missing or not a number',
    ]) assert.ok(lines.includes(expected), `missing "${expected}" in:\n${lines.join('\n')}`);
  });

  it('lib/rating/README.md names the same default time zone as config/default.json', () => {
    const root = path.resolve(__dirname, '../../../..');
    const zone = (JSON.parse(fs.readFileSync(path.join(root, 'config/default.json'), 'utf8')) as { rating: { timeZone: string } }).rating.timeZone;
    const readme = fs.readFileSync(path.join(root, 'lib/rating/README.md'), 'utf8');
    const said = /`rating\.timeZone` applies \(default `([^`]+)`/.exec(readme)?.[1];
    assert.equal(said, zone);
    const configReadme = fs.readFileSync(path.join(root, 'config/README.md'), 'utf8');
    assert.match(configReadme, new RegExp(`\\| \`rating\\.timeZone\` \\| \`${zone.replace('/', '\\/')}\` \\|`));
  });
});
