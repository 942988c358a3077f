import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { AppError } from '../../lib/common/errors';
import { formatMoney } from '../../lib/common/money';
import { openDatabaseUrl, type Database } from '../../lib/db/database';
import { RatingRepository } from '../../lib/db/rating-repository';
import { RatingReloader, type RatingService } from '../../lib/rating';
import { parseTableCsv } from '../../lib/rating/csv';
import { RATING_TABLE_NAMES, emptyTables } from '../../lib/rating/tables';
import { testDatabaseUrl } from '../support/mariadb';
import { capturingLogger, cliContext, runTariff, waitFor } from '../unit/rating/cli-support';

const EXAMPLES = path.resolve(__dirname, '../../../lib/rating/examples');
const INTERVAL_MS = 250;
// Monday 2026-11-23, 11:00 in Berlin: weekday peak (tariff 2: 0.05 connect, 0.12 first minute, then 0.002/s).
const PEAK = new Date('2026-11-23T10:00:00Z');
const CALL = { service: 'voice.public', destination: '4930123456' };

describe('rating on MariaDB: admins edit tariff rows while the engine runs', function () {
  this.timeout(60_000);
  let url: string;
  let db: Database;
  let service: RatingService;
  let reloader: RatingReloader;
  const log = capturingLogger();
  const price = (seconds: number): string => formatMoney(service.quote(CALL, PEAK).price(seconds));

  before(async () => {
    url = await testDatabaseUrl('rating');
    db = await openDatabaseUrl(url);
    await db.migrate();
    const tables = emptyTables();
    for (const t of RATING_TABLE_NAMES) tables[t] = parseTableCsv(t, fs.readFileSync(path.join(EXAMPLES, `${t}.csv`), 'utf8'));
    const repo = new RatingRepository(db, 'Europe/Berlin');
    await repo.replaceTables(tables);
    ({ service, reloader } = await RatingReloader.create(repo, { intervalMs: INTERVAL_MS, logger: log.logger }));
    reloader.start();
  });

  after(async () => {
    reloader?.stop();
    await reloader?.settle();
    await db?.close();
  });

  it('prices from the rows as loaded', () => {
    assert.equal(price(60), '0.170000');
    assert.equal(price(90), '0.230000');
  });

  it('sees an edited price within the reload interval, without a restart', async () => {
    const before = service.version;
    await db.sequelize.query('UPDATE tariff_steps SET price_per_increment = ? WHERE id = ?', { replacements: ['0.150000', 2] });
    const waited = await waitFor('the edited price', () => service.version > before, 10 * INTERVAL_MS);
    assert.equal(price(60), '0.200000');
    assert.ok(waited <= 2 * INTERVAL_MS + 1500, `reload took ${waited} ms with a ${INTERVAL_MS} ms interval`);
  });

  it('rejects a broken edit, logs each bad row and keeps the prices in force', async () => {
    const before = log.lines.length;
    const version = service.version;
    await db.sequelize.transaction(async (transaction) => {
      await db.sequelize.query('UPDATE tariff_steps SET price_per_increment = ? WHERE id = ?', { replacements: ['-0.002000', 3], transaction });
      await db.sequelize.query(
        'INSERT INTO charging_rules (id, service_id, destination_prefix, day_type_id, time_from, time_to, priority, tariff_id, description) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
        { replacements: [9, 3, '', 1, '12:00', '13:00', 0, 3, 'lunch rate, clashing with the peak rule'], transaction });
    });
    await waitFor('the rejection', () => log.lines.slice(before).some((l) => String(l.message).startsWith('rating rule set rejected')), 10 * INTERVAL_MS);
    const problems = log.lines.slice(before).filter((l) => l.message === 'rating rule problem').map((l) => `${String(l.table)}#${String(l.rowId)}`).sort();
    assert.deepEqual(problems, ['charging_rules#9', 'tariff_steps#3']);
    assert.equal(service.version, version);
    assert.equal(price(60), '0.200000');
    assert.equal(price(90), '0.260000');
  });

  it('`tariff check` lists the broken rows and fails', async () => {
    const out: string[] = [];
    const err = await runTariff(cliContext(url, 'Europe/Berlin', out), ['check']);
    assert.ok(err instanceof AppError && err.code === 'RULESET_INVALID', `expected RULESET_INVALID, got ${String(err)}`);
    assert.ok(out.some((l) => /^tariff_steps row 3: price_per_increment is negative/.test(l)), out.join('\n'));
    assert.ok(out.some((l) => /^charging_rules row 9: ambiguous with rule 2/.test(l)), out.join('\n'));
  });

  it('takes the repaired rows once the admin fixes them', async () => {
    const version = service.version;
    await db.sequelize.query('UPDATE tariff_steps SET price_per_increment = ? WHERE id = ?', { replacements: ['0.001000', 3] });
    await db.sequelize.query('UPDATE charging_rules SET priority = ? WHERE id = ?', { replacements: [1, 9] });
    await waitFor('the repaired set', () => service.version > version, 10 * INTERVAL_MS);
    assert.equal(price(90), '0.230000');
    // 12:00-13:00 Berlin on a weekday now takes the lunch rule (tariff 3, off-peak).
    assert.equal(service.quote(CALL, new Date('2026-11-23T11:30:00Z')).ruleId, 9);
    const out: string[] = [];
    assert.equal(await runTariff(cliContext(url, 'Europe/Berlin', out), ['check']), undefined);
    assert.match(out.join('\n'), /valid: 9 charging rule/);
  });
});
