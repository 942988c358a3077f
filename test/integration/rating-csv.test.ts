import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { AppError } from '../../lib/common/errors';
import { openDatabaseUrl, type Database } from '../../lib/db/database';
import { RatingRepository } from '../../lib/db/rating-repository';
import { loadRatingEngine, type RatingEngine, type ServiceAttributes } from '../../lib/rating';
import { testDatabaseUrl } from '../support/mariadb';
import { cliContext, runTariff } from '../unit/rating/cli-support';
import { prng } from '../unit/rating/fixtures';

const EXAMPLES = path.resolve(__dirname, '../../../lib/rating/examples');
const CLI = path.resolve(__dirname, '../../app/cli.js');
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
    // Ids 9 and 10 are in the source tables: the files list them in numeric order.
    const ids = fs.readFileSync(path.join(dir, 'tariff_steps.csv'), 'utf8').trim().split('\r\n').slice(1).map((l) => Number(l.split(',')[0]));
    assert.ok(ids.includes(10) && ids.includes(2), ids.join(','));
    assert.deepEqual(ids, [...ids].sort((a, b) => a - b));
  });

  for (const column of ['valid_to', 'destination_prefix']) {
    it(`an import of charging_rules.csv without the ${column} column names the column and writes nothing`, async () => {
      const folder = path.join(dir, `without-${column}`);
      fs.mkdirSync(folder);
      for (const f of fs.readdirSync(EXAMPLES)) fs.copyFileSync(path.join(EXAMPLES, f), path.join(folder, f));
      const lines = fs.readFileSync(path.join(EXAMPLES, 'charging_rules.csv'), 'utf8').split(/\r?\n/).filter(Boolean).map((l) => l.split(','));
      const at = lines[0]!.indexOf(column);
      assert.ok(at > 0 && lines.slice(1).every((cells) => cells.length === lines[0]!.length), 'the example file has plain fields');
      fs.writeFileSync(path.join(folder, 'charging_rules.csv'), lines.map((cells) => cells.filter((_, k) => k !== at).join(',')).join('\n') + '\n');
      const url = await testDatabaseUrl('rating_cols');
      const db = await migrated(url);
      dbs.push(db);
      const err = await runTariff(cliContext(url, ZONE, []), ['import', folder]);
      assert.ok(err instanceof AppError && err.code === 'CSV_INVALID', String(err));
      assert.equal(err.message, `charging_rules.csv line 1: missing column "${column}" (every column must be in the header; leave a field empty for NULL)`);
      assert.deepEqual(Object.values(await new RatingRepository(db, ZONE).countRows()), [0, 0, 0, 0, 0, 0]);
    });
  }

  it('`tariff rate --start` without a zone is UTC, whatever the host\'s zone', () => {
    // Monday 2026-11-23 16:30 UTC is 17:30 in Berlin: the weekday peak (rule 2). Read in New York's
    // zone it would be 21:30 UTC, 22:30 in Berlin: off-peak (rule 3).
    const rate = (start: string, tz: string) => {
      const env: NodeJS.ProcessEnv = { ...process.env, TZ: tz, TOLLGATE_CONFIG: '', TOLLGATE_DATABASE__URL: sourceUrl, TOLLGATE_RATING__TIME_ZONE: ZONE, TOLLGATE_LOG__LEVEL: 'warn' };
      delete env.TOLLGATE_TEST_MYSQL_URL;
      const r = spawnSync(process.execPath, [CLI, 'tariff', 'rate', '--service', 'voice.public', '--destination', '4930123456', '--seconds', '60', '--start', start, '--json'], { env, encoding: 'utf8', timeout: 30_000 });
      assert.equal(r.status, 0, r.stderr);
      return JSON.parse(r.stdout) as { ruleId: number; start: string };
    };
    for (const tz of ['America/New_York', 'Asia/Tokyo']) {
      const plain = rate('2026-11-23T16:30:00', tz);
      assert.equal(plain.start, '2026-11-23T16:30:00.000Z');
      assert.equal(plain.ruleId, 2);
      assert.equal(rate('2026-11-23 16:30', tz).ruleId, 2);
      assert.deepEqual(rate('2026-11-23T16:30:00Z', tz), plain);
      assert.equal(rate('2026-11-23T16:30:00-05:00', tz).ruleId, 3, 'an explicit zone is honoured');
    }
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
