import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDatabaseUrl } from '../../lib/db/database';
import { testDatabaseUrl } from '../support/mariadb';
import { cliContext, runTariff } from '../unit/rating/cli-support';

const EXAMPLES = path.resolve(__dirname, '../../../lib/rating/examples');

/** The example calendar and services with tariffs whose amounts a double cannot hold exactly. */
function writeTables(dir: string): void {
  for (const f of ['services.csv', 'day_types.csv', 'holidays.csv']) fs.copyFileSync(path.join(EXAMPLES, f), path.join(dir, f));
  fs.writeFileSync(path.join(dir, 'tariffs.csv'), 'id,code,name,currency,connect_fee,minimum_charge,free_seconds,time_zone\n'
    + '1,AWKWARD,Awkward decimals,EUR,0.000050,0,0,\n2,HUGE,Largest connect fee,EUR,99999999999.999999,0,0,\n');
  fs.writeFileSync(path.join(dir, 'tariff_steps.csv'), 'id,tariff_id,from_second,increment_seconds,price_per_increment\n'
    + '1,1,0,60,0.130620\n2,2,0,1,0.000001\n');
  fs.writeFileSync(path.join(dir, 'charging_rules.csv'), 'id,service_id,caller_plan,vpn_group,destination_prefix,day_type_id,time_from,time_to,valid_from,valid_to,priority,tariff_id,description\n'
    + '1,3,,,49,,,,,,0,1,awkward\n2,3,,,999,,,,,,0,2,huge\n');
}

for (const dialect of ['mariadb', 'sqlite'] as const) {
  describe(`tariff amounts a double cannot hold, imported into ${dialect}`, function () {
    this.timeout(60_000);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tg-tariff-amounts-'));
    let url: string;

    before(async () => {
      url = dialect === 'mariadb' ? await testDatabaseUrl('tariff_amounts') : `sqlite:${path.join(dir, 'rating.sqlite')}`;
      const db = await openDatabaseUrl(url);
      await db.migrate();
      await db.close();
      const csv = path.join(dir, 'csv');
      fs.mkdirSync(csv);
      writeTables(csv);
      const out: string[] = [];
      assert.equal(await runTariff(cliContext(url, 'UTC', out), ['import', csv]), undefined, out.join('\n'));
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    it('checks valid and prices 61 s at 0.000050 + 2 x 0.130620 exactly', async () => {
      const out: string[] = [];
      assert.equal(await runTariff(cliContext(url, 'UTC', out), ['check']), undefined, out.join('\n'));
      assert.match(out.join('\n'), /rating tables are valid: 2 charging rule\(s\), 2 tariff\(s\)/);
      const rate: string[] = [];
      assert.equal(await runTariff(cliContext(url, 'UTC', rate), ['rate', '--service', 'voice.public', '--destination', '4930123456', '--seconds', '61', '--start', '2026-12-01T10:00:00Z', '--json']), undefined, rate.join('\n'));
      const r = JSON.parse(rate.join('')) as { connectFee: string; price: string; pieces: Array<{ pricePerIncrement: string }> };
      assert.deepEqual([r.connectFee, r.pieces[0]!.pricePerIncrement, r.price], ['0.000050', '0.130620', '0.261290']);
    });

    it('keeps the largest connect fee to the last micro-unit', async () => {
      const rate: string[] = [];
      assert.equal(await runTariff(cliContext(url, 'UTC', rate), ['rate', '--service', 'voice.public', '--destination', '999123', '--seconds', '3', '--start', '2026-12-01T10:00:00Z', '--json']), undefined, rate.join('\n'));
      assert.equal((JSON.parse(rate.join('')) as { price: string }).price, '100000000000.000002');
    });

    it('exports exactly what was imported', async () => {
      const out = path.join(dir, 'export');
      fs.mkdirSync(out);
      const lines: string[] = [];
      assert.equal(await runTariff(cliContext(url, 'UTC', lines), ['export', out]), undefined, lines.join('\n'));
      assert.match(fs.readFileSync(path.join(out, 'tariffs.csv'), 'utf8'), /99999999999\.999999/);
      assert.match(fs.readFileSync(path.join(out, 'tariff_steps.csv'), 'utf8'), /0\.130620/);
    });
  });
}
