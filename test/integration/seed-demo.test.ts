/**
 * Where demo data goes: only into the embedded default's first run (SQLite at its own place in
 * dataDir, no database.url) or on an explicit `tollgate db seed`, which is checked whole before it
 * writes, refuses a database that holds data, and with --force only adds what is missing.
 */
import { strict as assert } from 'node:assert';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { QueryTypes } from 'sequelize';
import { parseMoney } from '../../lib/common/money';
import { openDatabaseUrl, type Database } from '../../lib/db/database';
import { RatingRepository } from '../../lib/db/rating-repository';
import { VpnRepository } from '../../lib/db/vpn-repository';
import { testDatabaseUrl } from '../support/mariadb';
import { freePort } from '../support/ports';

const CLI = path.resolve(__dirname, '../../app/cli.js');

interface LogLine { message: string; [k: string]: unknown }

async function count(db: Database, table: string): Promise<number> {
  const [row] = await db.sequelize.query<{ n: number | string }>(`SELECT COUNT(*) AS n FROM ${table}`, { type: QueryTypes.SELECT });
  return Number(row!.n);
}

async function books(db: Database): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const t of ['accounts', 'ledger_entries', 'trunks', 'routes', 'subscribers', 'vpn_groups', 'vpn_members', 'tariffs', 'tariff_steps', 'charging_rules']) out[t] = await count(db, t);
  return out;
}

/** A step's price as the rating tables hold it, in micro-units. */
async function stepPrice(db: Database, id: number): Promise<bigint> {
  const row = (await new RatingRepository(db).readTables()).tariff_steps.find((r) => r.id === String(id));
  return parseMoney(row!.price_per_increment!);
}

/** An admin's edit of a price, in the column's own form (DECIMAL text, or micro-units on SQLite). */
async function editStepPrice(db: Database, id: number, price: string): Promise<void> {
  const value = db.dialect === 'sqlite' ? String(parseMoney(price)) : `'${price}'`;
  await db.sequelize.query(`UPDATE tariff_steps SET price_per_increment = ${value} WHERE id = ${id}`);
}

/** Config for a run on free loopback ports; `extra` is merged at the top level only. */
async function writeConfig(dir: string, extra: Record<string, unknown>): Promise<string> {
  const sip = await freePort('both'), control = await freePort('tcp');
  const config = {
    edge: { sip: [{ transport: 'udp', address: '127.0.0.1', port: sip }], control: { address: '127.0.0.1', port: control, secret: 'seed-test' } },
    log: { level: 'info', format: 'json' },
    admin: { enabled: false },
    calls: { drainSeconds: 1 },
    ...extra,
  };
  const file = path.join(dir, 'tollgate.json');
  fs.writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}

/** `tollgate start` until the application is up, then SIGTERM; resolves with its log lines and exit code. */
async function startAndStop(configFile: string, env: NodeJS.ProcessEnv = {}): Promise<{ logs: LogLine[]; code: number | null }> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env, TOLLGATE_CONFIG: configFile };
  delete childEnv.TOLLGATE_TEST_MYSQL_URL;
  const child = spawn(process.execPath, [CLI, 'start'], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'], cwd: os.tmpdir() });
  const logs: LogLine[] = [];
  let buffered = '';
  let onLine: (() => void) | undefined;
  const take = (d: Buffer) => {
    buffered += d.toString();
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      try { logs.push(JSON.parse(line) as LogLine); } catch { logs.push({ message: line }); }
      onLine?.();
    }
  };
  child.stdout!.on('data', take);
  child.stderr!.on('data', take);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const started = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), 30_000);
    const check = () => {
      if (logs.some((l) => l.message === 'application started')) { clearTimeout(timer); resolve(true); }
    };
    onLine = check;
    void exited.then(() => { clearTimeout(timer); resolve(logs.some((l) => l.message === 'application started')); });
    check();
  });
  if (child.exitCode === null) child.kill('SIGTERM');
  const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const code = await exited;
  clearTimeout(killer);
  assert.ok(started, `the application did not start:\n${logs.slice(-20).map((l) => JSON.stringify(l)).join('\n')}`);
  return { logs, code };
}

function cli(configFile: string, ...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const env: NodeJS.ProcessEnv = { ...process.env, TOLLGATE_CONFIG: '' };
  delete env.TOLLGATE_TEST_MYSQL_URL;
  const r = spawnSync(process.execPath, [CLI, '-c', configFile, ...args], { env, encoding: 'utf8', timeout: 60_000, cwd: os.tmpdir() });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('demo data: seeded only on the embedded default\'s first run or by `db seed`', function () {
  this.timeout(120_000);
  const dirs: string[] = [];
  const dbs: Database[] = [];
  const tmp = (): string => { const d = fs.mkdtempSync(path.join(os.tmpdir(), 'tg-seed-')); dirs.push(d); return d; };

  after(async () => {
    for (const db of dbs) await db.close();
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  it('with only database.url set to a MariaDB, `tollgate start` migrates, logs mysql and seeds nothing', async () => {
    const url = await testDatabaseUrl('seed_url');
    const dir = tmp();
    const file = await writeConfig(dir, { dataDir: dir, database: { url } });
    const { logs, code } = await startAndStop(file);
    assert.equal(code, 0, logs.slice(-25).map((l) => JSON.stringify(l)).join('\n'));
    const started = logs.find((l) => l.message === 'application started')!;
    assert.equal(started.database, 'mysql');
    assert.ok(!logs.some((l) => l.message === 'demo data seeded'), 'no seeding was logged');
    const db = await openDatabaseUrl(url);
    dbs.push(db);
    assert.deepEqual(await books(db), {
      accounts: 0, ledger_entries: 0, trunks: 0, routes: 0, subscribers: 0, vpn_groups: 0, vpn_members: 0, tariffs: 0, tariff_steps: 0, charging_rules: 0,
    });
    assert.ok(!fs.existsSync(path.join(dir, 'tollgate.sqlite')), 'no SQLite file was made beside it');
  });

  it('with Kubernetes service variables in the environment, start-up still works', async () => {
    const url = await testDatabaseUrl('seed_k8s');
    const dir = tmp();
    const file = await writeConfig(dir, { dataDir: dir, database: { url } });
    const { code, logs } = await startAndStop(file, {
      TOLLGATE_SERVICE_HOST: '10.96.0.12', TOLLGATE_SERVICE_PORT: '5060', TOLLGATE_PORT: 'udp://10.96.0.12:5060',
      TOLLGATE_PORT_5060_UDP: 'udp://10.96.0.12:5060', TOLLGATE_PORT_5060_UDP_PROTO: 'udp', TOLLGATE_PORT_5060_UDP_PORT: '5060',
    });
    assert.equal(code, 0);
    assert.ok(logs.some((l) => l.message === 'application started'));
  });

  it('the embedded default (SQLite in dataDir, no url) is seeded on its first start only', async () => {
    const dir = tmp();
    const file = await writeConfig(dir, { dataDir: 'state' });
    const first = await startAndStop(file);
    assert.equal(first.code, 0);
    assert.equal(first.logs.find((l) => l.message === 'application started')!.database, 'sqlite');
    const storage = path.join(dir, 'state', 'tollgate.sqlite');
    assert.ok(fs.existsSync(storage), 'the SQLite file is in dataDir, read against the config file\'s folder');
    let db = await openDatabaseUrl(`sqlite:${storage}`);
    const seeded = await books(db);
    assert.equal(seeded.accounts, 5);
    assert.equal(seeded.vpn_members, 4);
    await editStepPrice(db, 2, '0.250000');
    await db.close();
    const second = await startAndStop(file);
    assert.equal(second.code, 0);
    assert.ok(!second.logs.some((l) => l.message === 'demo data seeded'));
    db = await openDatabaseUrl(`sqlite:${storage}`);
    dbs.push(db);
    assert.deepEqual(await books(db), seeded);
    assert.equal(await stepPrice(db, 2), 250_000n);
  });

  it('SQLite at a storage of its own is not the embedded default: not seeded', async () => {
    const dir = tmp();
    const file = await writeConfig(dir, { dataDir: dir, database: { storage: 'mine.sqlite' } });
    assert.equal((await startAndStop(file)).code, 0);
    const db = await openDatabaseUrl(`sqlite:${path.join(dir, 'mine.sqlite')}`);
    dbs.push(db);
    assert.equal(await count(db, 'accounts'), 0);
  });

  for (const kind of ['MariaDB', 'SQLite'] as const) {
    describe(`\`tollgate db seed\` on ${kind}`, () => {
      let file: string;
      let db: Database;

      before(async () => {
        const dir = tmp();
        const url = kind === 'MariaDB' ? await testDatabaseUrl('seed_cli') : `sqlite:${path.join(dir, 'seeded.sqlite')}`;
        file = await writeConfig(dir, { dataDir: dir, database: { url } });
        const r = cli(file, 'db', 'seed');
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stdout, /demo data loaded/);
        db = await openDatabaseUrl(url);
        dbs.push(db);
      });

      it('seeds the PBX trunk as serving members and the carrier as not', async () => {
        const trunks = (await new VpnRepository(db).listTrunks()).map((t) => [t.name, t.paiTrusted, t.servesMembers]).sort();
        assert.deepEqual(trunks, [['carrier', false, false], ['pbx-loopback', true, true]]);
      });

      it('a second `db seed` exits non-zero with a clear message and changes nothing; an edited price survives', async () => {
        await editStepPrice(db, 2, '0.150000');
        const before = await books(db);
        const r = cli(file, 'db', 'seed');
        assert.notEqual(r.status, 0);
        assert.match(r.stderr, /database is not empty \(.*5 account\(s\).*\); nothing was written/);
        assert.match(r.stderr, /--force/);
        assert.deepEqual(await books(db), before);
        assert.equal(await stepPrice(db, 2), 150_000n);
      });

      it('`db seed --force` adds only what is missing: no edit reverted, no money paid twice', async () => {
        await db.sequelize.query("DELETE FROM vpn_members WHERE extension = '204'");
        await db.sequelize.query("DELETE FROM routes WHERE prefix = '4930'");
        const before = await books(db);
        const r = cli(file, 'db', 'seed', '--force');
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stdout, /added route "4930" to carrier, member acme 204; kept as they were: rating tables, account acme-alice/);
        assert.deepEqual(await books(db), { ...before, vpn_members: before.vpn_members! + 1, routes: before.routes! + 1 });
        assert.equal(await stepPrice(db, 2), 150_000n);
        const [alice] = await db.sequelize.query<{ n: number | string }>("SELECT COUNT(*) AS n FROM ledger_entries l JOIN accounts a ON a.id = l.account_id WHERE a.code = 'acme-alice'", { type: QueryTypes.SELECT });
        assert.equal(Number(alice!.n), 1, 'one top-up for alice');
      });
    });
  }

  it('`db seed` into a database with an admin\'s own account writes nothing at all', async () => {
    const url = await testDatabaseUrl('seed_admin');
    const dir = tmp();
    const file = await writeConfig(dir, { dataDir: dir, database: { url } });
    assert.equal(cli(file, 'db', 'migrate').status, 0);
    const made = cli(file, 'account', 'create', 'first-customer', '--currency', 'EUR');
    assert.equal(made.status, 0, made.stderr);
    const r = cli(file, 'db', 'seed');
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /not empty \(1 account\(s\)\); nothing was written/);
    const db = await openDatabaseUrl(url);
    dbs.push(db);
    assert.deepEqual(await books(db), {
      accounts: 1, ledger_entries: 0, trunks: 0, routes: 0, subscribers: 0, vpn_groups: 0, vpn_members: 0, tariffs: 0, tariff_steps: 0, charging_rules: 0,
    });
  });
});
