import { strict as assert } from 'node:assert';
import fs from 'node:fs';
import path from 'node:path';
import { DatabaseWatch } from '../../../app/database-watch';
import { moneyText, parseMoney } from '../../../lib/common/money';
import { captureLogs } from '../../support/log-capture';

const ROOT = path.resolve(__dirname, '../../../..');

describe('log lines an operator reads', () => {
  it('a database outage is one warning when it goes and one info line, with how long, when it is back', async () => {
    const { logger, lines } = captureLogs();
    let up = true;
    let clock = 0;
    const watch = new DatabaseWatch(async () => { if (!up) throw new Error('connect ECONNREFUSED 127.0.0.1:3306'); }, logger, { intervalMs: 5000, now: () => clock });
    await watch.check();
    assert.equal(lines.length, 0, 'nothing while it is up');
    up = false;
    for (let i = 0; i < 6; i++) { clock += 5000; await watch.check(); }
    assert.equal(watch.isDown, true);
    up = true;
    clock += 5000;
    await watch.check();
    await watch.check();
    assert.deepEqual(lines.map((l) => [l.level, l.message]), [
      ['warn', 'database unreachable; calls follow prepaid.failurePolicy until it is back'],
      ['info', 'database reachable again'],
    ]);
    assert.match(String(lines[0]!.error), /ECONNREFUSED/);
    assert.equal(lines[1]!.downSeconds, 30);
  });

  it('a ping that never answers counts as down, within its bound', async () => {
    const { logger, at } = captureLogs();
    const watch = new DatabaseWatch(() => new Promise<void>(() => undefined), logger, { intervalMs: 1000, timeoutMs: 50 });
    await watch.check();
    assert.equal(at('warn').length, 1);
    assert.match(String(at('warn')[0]!.error), /no answer within 50 ms/);
  });

  it('money is shown as a decimal with its currency', () => {
    const cases: Array<[string, string | null, string]> = [
      ['1.25', 'EUR', '1.25 EUR'], ['0.001234', 'EUR', '0.001234 EUR'], ['10', 'USD', '10.00 USD'], ['-0.5', 'EUR', '-0.50 EUR'], ['0', null, '0.00'],
    ];
    for (const [amount, currency, shown] of cases) assert.equal(moneyText(parseMoney(amount), currency), shown);
  });

  it('no log line prints money as micro-units or without its currency', () => {
    const call = /(?:logger|log)\.(?:info|warn|error|debug|verbose)\(\s*'([^']*)'(.{0,600}?)\);/gs;
    const micro = /formatMoney\(|\b(?:cost|amount|charge|charged|reserved|balance|price)\.toString\(\)|\b(?:cost|amount|charge|reserved|balance|price): [a-z.]*(?:cost|amount|charge|reserved|balance|price)\b(?!\()/;
    // The recovery of a dead instance's reservation knows no currency without another read; it says so in its field name.
    const known = new Set(['reservation of a dead instance recovered']);
    const found: string[] = [];
    const walk = (dir: string): string[] => fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []));
    for (const file of [...walk(path.join(ROOT, 'app')), ...walk(path.join(ROOT, 'lib'))]) {
      const text = fs.readFileSync(file, 'utf8');
      for (const m of text.matchAll(call)) if (micro.test(m[2]!) && !known.has(m[1]!)) found.push(`${path.relative(ROOT, file)}: ${m[1]}`);
    }
    assert.deepEqual(found, []);
  });
});
