import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { CsvFormatError, formatTableCsv, parseTableCsv } from '../../../lib/rating/csv';
import { RATING_TABLE_NAMES, emptyTables, rowsToRawRuleSet } from '../../../lib/rating/tables';
import { validateRuleSet } from '../../../lib/rating';

describe('rating: CSV of the rule tables', () => {
  it('round-trips commas, quotes, line breaks, spaces and NULLs', () => {
    const rows = [
      { id: '1', code: 'T1', name: 'Peak, "weekday"\nrate', currency: 'EUR', connect_fee: '0.050000', minimum_charge: '0', free_seconds: '0', time_zone: null },
      { id: '2', code: 'T2', name: ' padded ', currency: 'EUR', connect_fee: '0', minimum_charge: '0', free_seconds: '3', time_zone: 'Europe/Berlin' },
    ];
    assert.deepEqual(parseTableCsv('tariffs', formatTableCsv('tariffs', rows)), rows);
  });

  it('accepts the columns in any order; only a label column may be left out, and it is then empty', () => {
    const rows = parseTableCsv('services', 'code,id\nvoice.onnet,1\n');
    assert.deepEqual(rows, [{ id: '1', code: 'voice.onnet', name: null }]);
    const rules = parseTableCsv('charging_rules', 'id,service_id,caller_plan,vpn_group,destination_prefix,day_type_id,time_from,time_to,valid_from,valid_to,priority,tariff_id\n1,3,,,49,,,,,2026-12-08,0,1\n');
    assert.equal(rules[0]!.description, null);
    assert.equal(rules[0]!.valid_to, '2026-12-08');
  });

  const RULE_COLUMNS = ['id', 'service_id', 'caller_plan', 'vpn_group', 'destination_prefix', 'day_type_id', 'time_from', 'time_to', 'valid_from', 'valid_to', 'priority', 'tariff_id', 'description'];
  const without = (...drop: string[]): string => {
    const cols = RULE_COLUMNS.filter((c) => !drop.includes(c));
    const values: Record<string, string> = { id: '1', service_id: '3', destination_prefix: '49', valid_from: '2026-12-01', valid_to: '2026-12-08', priority: '0', tariff_id: '1', description: 'one-week promotion' };
    return `${cols.join(',')}\n${cols.map((c) => values[c] ?? '').join(',')}\n`;
  };
  for (const [missing, reason] of [
    [['valid_to'], /line 1: missing column "valid_to"/],
    [['destination_prefix'], /line 1: missing column "destination_prefix"/],
    [['valid_to', 'destination_prefix'], /missing columns "destination_prefix", "valid_to"/],
  ] as Array<[string[], RegExp]>) {
    it(`refuses charging_rules.csv without ${missing.join(' and ')}, naming the column, instead of reading it as NULL`, () => {
      assert.throws(() => parseTableCsv('charging_rules', without(...missing)), (e: unknown) => e instanceof CsvFormatError && reason.test(e.message) && e.message.startsWith('charging_rules.csv'));
    });
  }

  it('writes rows in numeric id order (2 before 10)', () => {
    const rows = ['10', '2', '1', '33', '3'].map((id) => ({ id, code: `s${id}`, name: null }));
    const ids = formatTableCsv('services', rows).trim().split('\r\n').slice(1).map((l) => l.split(',')[0]);
    assert.deepEqual(ids, ['1', '2', '3', '10', '33']);
  });

  const bad: Array<[string, string, RegExp]> = [
    ['an unknown column', 'id,code,colour\n1,a,red\n', /unknown column "colour"/],
    ['a missing id column', 'code,name\nvoice.onnet,x\n', /missing column "id"/],
    ['a missing code column', 'id,name\n1,x\n', /missing column "code"/],
    ['a column named twice', 'id,code,code\n1,a,a\n', /"code" appears twice/],
    ['a short row', 'id,code,name\n1,a\n', /line 2: 2 fields, the header has 3/],
    ['an unterminated quote', 'id,code,name\n1,a,"open\n', /unterminated/],
    ['a quote inside an unquoted field', 'id,code,name\n1,a,b"c\n', /line 2: a quote inside an unquoted field/],
    ['a short row after a blank line and a quoted line break', 'id,code,name\n\n1,a,"two\nlines"\n2,b\n', /line 5: 2 fields, the header has 3/],
  ];

  it('reads a BOM, mixed line ends, blank lines, quoted commas, quotes and line breaks; an empty field is NULL', () => {
    const rows = parseTableCsv('services', '\ufeffcode,id,name\r\nvoice.a,1,"x, ""y""\r\nz"\n\nvoice.b,2,\rvoice.c,3, padded \n');
    assert.deepEqual(rows, [
      { id: '1', code: 'voice.a', name: 'x, "y"\r\nz' },
      { id: '2', code: 'voice.b', name: null },
      { id: '3', code: 'voice.c', name: ' padded ' },
    ]);
    assert.deepEqual(parseTableCsv('services', formatTableCsv('services', rows)), rows, 'what is written reads back the same');
  });
  for (const [name, text, reason] of bad) {
    it(`rejects ${name}`, () => {
      assert.throws(() => parseTableCsv('services', text), (e: unknown) => e instanceof CsvFormatError && reason.test(e.message));
    });
  }

  it('the example tariff set in lib/rating/examples is valid', () => {
    const dir = path.resolve(__dirname, '../../../../lib/rating/examples');
    const tables = emptyTables();
    for (const t of RATING_TABLE_NAMES) tables[t] = parseTableCsv(t, fs.readFileSync(path.join(dir, `${t}.csv`), 'utf8'));
    const v = validateRuleSet(rowsToRawRuleSet(tables, 'Europe/Berlin'));
    assert.equal(v.ok, true, v.ok ? '' : JSON.stringify(v.problems));
  });
});
