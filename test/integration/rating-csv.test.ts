import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AppError } from '../../lib/common/errors';
import { openDatabaseUrl, type Database } from '../../lib/db/database';
import { RatingRepository } from '../../lib/db/rating-repository';
import { loadRatingEngine, type RatingEngine, type ServiceAttributes } from '../../lib/rating';
import { testDatabaseUrl } from '../support/mariadb';
import { cliContext, runTariff } from '../unit/rating/cli-support';
import { prng } from '../unit/rating/fixtures';

const EXAMPLES = path.resolve(__dirname, '../../../lib/rating/examples');
const ZONE = 'Europe/Berlin';

async function migrated(url: string): Promise<Database> {
  const db = await openDatabaseUrl(url);
  await db.migrate();
  return db;
}

/** Prices of many random calls (services, plans, groups, destinations, instants over holidays and DST, durations). */
function priceList(engine: RatingEngine): string[] {
  const rand = prng(2026);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const out: string[] = [];
  for (let i = 0; i < 500; i++) {
    const attrs: ServiceAttributes = {
      service: pick(['voice.onnet', 'voice.offnet', 'voice.public']), callerPlan: pick([null, 'business', 'basic']),
      vpnGroup: pick([null, 'acme']), destination: pick(['4930', '4989', '12125550100', '4420', '33612']) + String(Math.floor(rand() * 1e6)),
    };
    const start = new Date(Date.UTC(2026, 9, 20) + Math.floor(rand() * 90 * 86400) * 1000);
    const seconds = Math.floor(rand() * 7200);
    const q = engine.quote(attrs, start);
    out.push(`${q.ruleId}:${q.price(seconds)}:${q.maxSeconds(BigInt(Math.floor(rand() * 5_000_000)))}`);
  }
  return out;
}

describe('rating CSV export and import', function () {
  this.timeout(60_000);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-tariff-'));
  const dbs: Database[] = [];
  let sourceUrl: string;

  before(async () => {
    sourceUrl = await testDatabaseUrl('rating_src');
    const src = await migrated(sourceUrl);
    dbs.push(src);
    const out: string[] = [];
    assert.equal(await runTariff(cliContext(sourceUrl, ZONE, out), ['import', EXAMPLES]), undefined, out.join('\n'));
    // Rows that use the remaining columns: a tariff in another time zone, validity dates, a VPN group rule.
    await src.sequelize.query("INSERT INTO tariffs (id, code, name, currency, connect_fee, minimum_charge, free_seconds, time_zone) VALUES (6, 'PROMO', 'Promotion, \"winter\", 2026', 'EUR', '0.010000', '0.020000', 5, 'America/New_York')");
    await src.sequelize.query("INSERT INTO tariff_steps (id, tariff_id, from_second, increment_seconds, price_per_increment) VALUES (9, 6, 0, 10, '0.003333'), (10, 6, 60, 1, '0.000333')");
    await src.sequelize.query("INSERT INTO charging_rules (id, service_id, vpn_group, destination_prefix, time_from, time_to, valid_from, valid_to, priority, tariff_id, description) VALUES (9, 3, 'acme', '4', '09:00', '17:30', '2026-11-15 00:00:00', '2026-12-31 12:00:00', 20, 6, 'acme promotion')");
  });

  after(async () => {
    for (const db of dbs) await db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('export followed by import into an empty MariaDB database gives the same rows and the same prices', async () => {
    const out: string[] = [];
    assert.equal(await runTariff(cliContext(sourceUrl, ZONE, out), ['export', dir]), undefined, out.join('\n'));
    const targetUrl = await testDatabaseUrl('rating_dst');
    const dst = await migrated(targetUrl);
    dbs.push(dst);
    assert.equal(await runTariff(cliContext(targetUrl, ZONE, out), ['import', dir]), undefined, out.join('\n'));
    const srcRepo = new RatingRepository(dbs[0]!, ZONE), dstRepo = new RatingRepository(dst, ZONE);
    assert.deepEqual(await dstRepo.readTables(), await srcRepo.readTables());
    assert.deepEqual(priceList(await loadRatingEngine(dstRepo)), priceList(await loadRatingEngine(srcRepo)));
  });

  it('an import into an empty SQLite database prices the same as MariaDB', async () => {
    const sqlite = path.join(dir, 'rating.sqlite');
    const db = await migrated(`sqlite:${sqlite}`);
    dbs.push(db);
    const out: string[] = [];
    assert.equal(await runTariff(cliContext(`sqlite:${sqlite}`, ZONE, out), ['import', dir]), undefined, out.join('\n'));
    assert.deepEqual(priceList(await loadRatingEngine(new RatingRepository(db, ZONE))), priceList(await loadRatingEngine(new RatingRepository(dbs[0]!, ZONE))));
  });

  it('an import with a broken row writes nothing and names the row', async () => {
    const broken = path.join(dir, 'broken');
    fs.mkdirSync(broken);
    for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('.csv'))) fs.copyFileSync(path.join(dir, f), path.join(broken, f));
    const steps = fs.readFileSync(path.join(broken, 'tariff_steps.csv'), 'utf8').replace('\r\n4,3,0,60,0.030000', '\r\n4,3,0,60,-0.030000');
    fs.writeFileSync(path.join(broken, 'tariff_steps.csv'), steps);
    const url = await testDatabaseUrl('rating_broken');
    const db = await migrated(url);
    dbs.push(db);
    const out: string[] = [];
    const err = await runTariff(cliContext(url, ZONE, out), ['import', broken]);
    assert.ok(err instanceof AppError && err.code === 'RULESET_INVALID', String(err));
    assert.ok(out.includes('tariff_steps row 4: price_per_increment is negative (-0.030000)'), out.join('\n'));
    const counts = await new RatingRepository(db, ZONE).countRows();
    assert.deepEqual(Object.values(counts), [0, 0, 0, 0, 0, 0]);
  });

  it('an import the database refuses half-way leaves the tables as they were (one transaction)', async () => {
    const tooLong = path.join(dir, 'too-long');
    fs.mkdirSync(tooLong);
    for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('.csv'))) fs.copyFileSync(path.join(dir, f), path.join(tooLong, f));
    // Valid for the engine, but longer than the description column: MariaDB refuses the last table.
    fs.appendFileSync(path.join(tooLong, 'charging_rules.csv'), `99,2,,,77,,,,,,0,1,${'x'.repeat(300)}\r\n`);
    const repo = new RatingRepository(dbs[0]!, ZONE);
    const before = await repo.readTables();
    const err = await runTariff(cliContext(sourceUrl, ZONE, []), ['import', tooLong, '--replace']);
    assert.ok(err !== undefined, 'expected the import to fail');
    assert.ok(!(err instanceof AppError && err.code === 'RULESET_INVALID'), `the rows should pass validation: ${err.message}`);
    assert.match(err.message, /too long|description/i);
    assert.deepEqual(await repo.readTables(), before);
  });

  it('an import refuses to overwrite filled tables unless told to replace them', async () => {
    const out: string[] = [];
    const err = await runTariff(cliContext(sourceUrl, ZONE, out), ['import', dir]);
    assert.ok(err instanceof AppError && err.code === 'TABLES_NOT_EMPTY', String(err));
    assert.equal(await runTariff(cliContext(sourceUrl, ZONE, out), ['import', dir, '--replace']), undefined);
  });
});
