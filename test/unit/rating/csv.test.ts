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

  it('accepts a subset of columns in any order and fills the rest with NULL', () => {
    const rows = parseTableCsv('services', 'code,id\nvoice.onnet,1\n');
    assert.deepEqual(rows, [{ id: '1', code: 'voice.onnet', name: null }]);
  });

  const bad: Array<[string, string, RegExp]> = [
    ['an unknown column', 'id,code,colour\n1,a,red\n', /unknown column "colour"/],
    ['a missing id column', 'code\nvoice.onnet\n', /must include the id column/],
    ['a short row', 'id,code,name\n1,a\n', /line 2: 2 fields, the header has 3/],
    ['an unterminated quote', 'id,code,name\n1,a,"open\n', /unterminated/],
  ];
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
