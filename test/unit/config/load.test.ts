import { strict as assert } from 'node:assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { ConfigError, loadConfig, loadConfigReport } from '../../../app/config/load';

const CLI = path.resolve(__dirname, '../../../app/cli.js');

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err.problems;
  }
  assert.fail('configuration was accepted');
}

describe('configuration', function () {
  // Some cases start the CLI, a second or more each on a loaded machine.
  this.timeout(60_000);
  it('loads the embedded defaults: SQLite, embedded edge, refuse new calls when the database is down', () => {
    const c = loadConfig({ env: {} });
    assert.equal(c.database.dialect, 'sqlite');
    assert.equal(c.drachtio.mode, 'embedded');
    assert.equal(c.prepaid.failurePolicy.newCalls, 'refuse');
    assert.equal(c.prepaid.grantSeconds, 300);
  });

  it('a value of the wrong type names the key and what was expected', () => {
    const problems = problemsOf(() => loadConfig({ env: {}, overrides: { prepaid: { grantSeconds: 'five' } } }));
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /prepaid\.grantSeconds/);
    assert.match(problems[0]!, /expected number/);
  });

  it('an unknown key names the key', () => {
    const problems = problemsOf(() => loadConfig({ env: {}, overrides: { database: { hots: 'db1' } } }));
    assert.deepEqual(problems, ['config key database.hots: unknown key']);
  });

  it('an enum value outside its options lists the options', () => {
    const problems = problemsOf(() => loadConfig({ env: {}, overrides: { database: { dialect: 'postgres' } } }));
    assert.match(problems[0]!, /database\.dialect/);
    assert.match(problems[0]!, /sqlite/);
  });

  it('environment variables override keys, typed by the default', () => {
    const c = loadConfig({ env: { TOLLGATE_PREPAID__GRANT_SECONDS: '60', TOLLGATE_NUMBERING__COUNTRY_CODE: '44', TOLLGATE_DATABASE__URL: 'mysql://u@h/db' } });
    assert.equal(c.prepaid.grantSeconds, 60);
    assert.equal(c.numbering.countryCode, '44');
    assert.equal(c.database.url, 'mysql://u@h/db');
  });

  it('an environment variable for no key is refused by name', () => {
    const problems = problemsOf(() => loadConfig({ env: { TOLLGATE_PREPAID__GRANT_SECS: '60' } }));
    assert.deepEqual(problems, ['environment variable TOLLGATE_PREPAID__GRANT_SECS: no such config key']);
  });

  it('a config file is merged over the defaults, and a broken file is reported', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tg-config-'));
    try {
      const good = path.join(dir, 'good.json');
      fs.writeFileSync(good, JSON.stringify({ log: { level: 'debug' } }));
      assert.equal(loadConfig({ env: {}, file: good }).log.level, 'debug');
      const bad = path.join(dir, 'bad.json');
      fs.writeFileSync(bad, '{ "log": ');
      assert.match(problemsOf(() => loadConfig({ env: {}, file: bad }))[0]!, /not valid JSON/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the production example is valid', () => {
    const c = loadConfig({ env: {}, file: path.resolve(__dirname, '../../../../config/production.example.json') });
    assert.equal(c.database.dialect, 'mysql');
    assert.equal(c.drachtio.mode, 'external');
  });

  for (const [label, env, key] of [
    ['a wrong type', { TOLLGATE_ADMIN__PORT: '"eighty"' }, 'admin.port'],
    ['an unknown key', { TOLLGATE_CONFIG: '' , TOLLGATE_EDGE__CONTROLL__PORT: '1' }, 'TOLLGATE_EDGE__CONTROLL__PORT'],
  ] as const) {
    it(`start-up fails with ${label}, naming the key, and exits non-zero`, () => {
      const r = spawnSync(process.execPath, [CLI, 'start'], { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 20_000 });
      assert.notEqual(r.status, 0);
      assert.ok(r.stderr.includes(key), `stderr should name ${key}: ${r.stderr}`);
    });
  }
});

describe('configuration: the database dialect follows database.url', () => {
  it('a mysql: or mariadb: url alone selects mysql', () => {
    assert.equal(loadConfig({ env: { TOLLGATE_DATABASE__URL: 'mysql://u:p@db1:3306/tollgate' } }).database.dialect, 'mysql');
    assert.equal(loadConfig({ env: {}, overrides: { database: { url: 'mariadb://u@db1/tollgate' } } }).database.dialect, 'mysql');
  });

  it('a sqlite: or file: url selects sqlite; a relative file is inside dataDir', () => {
    const c = loadConfig({ env: {}, overrides: { dataDir: '/srv/tg', database: { url: 'sqlite:db/x.sqlite' } } });
    assert.equal(c.database.dialect, 'sqlite');
    assert.equal(c.database.url, 'sqlite:/srv/tg/db/x.sqlite');
    assert.equal(loadConfig({ env: {}, overrides: { database: { url: 'file:/var/lib/t.sqlite' } } }).database.url, 'sqlite:/var/lib/t.sqlite');
    assert.equal(loadConfig({ env: {}, overrides: { database: { url: 'sqlite::memory:' } } }).database.url, 'sqlite::memory:');
  });

  it('an explicit dialect that disagrees with the url is an error naming both keys', () => {
    const problems = problemsOf(() => loadConfig({ env: {}, overrides: { database: { dialect: 'sqlite', url: 'mysql://u@db1/tollgate' } } }));
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /database\.dialect/);
    assert.match(problems[0]!, /database\.url/);
    const fromEnv = problemsOf(() => loadConfig({ env: { TOLLGATE_DATABASE__DIALECT: 'mysql', TOLLGATE_DATABASE__URL: 'sqlite:/tmp/x.sqlite' } }));
    assert.match(fromEnv[0]!, /database\.dialect and database\.url disagree/);
  });

  it('an explicit dialect that agrees is fine, and a url of another scheme names database.url', () => {
    assert.equal(loadConfig({ env: {}, overrides: { database: { dialect: 'mysql', url: 'mysql://u@db1/t' } } }).database.dialect, 'mysql');
    assert.match(problemsOf(() => loadConfig({ env: {}, overrides: { database: { url: 'postgres://u@db1/t' } } }))[0]!, /database\.url: the scheme must be/);
  });
});

describe('configuration: environment variables that share the TOLLGATE_ prefix', function () {
  // Some cases start the CLI, a second or more each on a loaded machine.
  this.timeout(60_000);
  const kubernetes = {
    TOLLGATE_SERVICE_HOST: '10.96.0.12', TOLLGATE_SERVICE_PORT: '5060', TOLLGATE_SERVICE_PORT_SIP: '5060', TOLLGATE_PORT: 'udp://10.96.0.12:5060',
    TOLLGATE_PORT_5060_UDP: 'udp://10.96.0.12:5060', TOLLGATE_PORT_5060_UDP_PROTO: 'udp', TOLLGATE_PORT_5060_UDP_PORT: '5060', TOLLGATE_PORT_5060_UDP_ADDR: '10.96.0.12',
  };

  it('the variables Kubernetes injects for a Service named tollgate are ignored and listed', () => {
    const r = loadConfigReport({ env: { ...kubernetes, TOLLGATE_PREPAID__GRANT_SECONDS: '60' } });
    assert.equal(r.config.prepaid.grantSeconds, 60);
    assert.deepEqual([...r.ignoredEnvironment].sort(), Object.keys(kubernetes).sort());
  });

  it('a single-level variable naming a top-level key is a config key', () => {
    assert.equal(loadConfig({ env: { TOLLGATE_INSTANCE_ID: 'tg-7', ...kubernetes } }).instanceId, 'tg-7');
  });

  it('a typo in a real key (with the __ separator) still stops start-up', () => {
    assert.deepEqual(problemsOf(() => loadConfig({ env: { ...kubernetes, TOLLGATE_DATABASE__HOTS: 'db1' } })), ['environment variable TOLLGATE_DATABASE__HOTS: no such config key']);
  });

  it('the CLI runs with them set', function () {
    // A child process that migrates a database: bounded by its own 30 s spawn timeout, not mocha's 2 s.
    this.timeout(30_000);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tg-k8s-'));
    try {
      const r = spawnSync(process.execPath, [CLI, 'db', 'migrate'], { env: { ...process.env, ...kubernetes, TOLLGATE_DATA_DIR: dir, TOLLGATE_LOG__LEVEL: 'debug' }, encoding: 'utf8', timeout: 30_000 });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /applied \d+ migration/);
      assert.match(r.stderr, /environment variable ignored: not a config key.*TOLLGATE_PORT_5060_UDP_PROTO/);
      assert.ok(fs.existsSync(path.join(dir, 'tollgate.sqlite')));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('configuration: relative paths', function () {
  // Some cases start the CLI, a second or more each on a loaded machine.
  this.timeout(60_000);
  const tollgateDir = path.resolve(__dirname, '../../../..');

  it('the defaults are read against the Tollgate folder: dataDir, and the SQLite file inside it', () => {
    const c = loadConfig({ env: {} });
    assert.equal(c.dataDir, path.join(tollgateDir, 'data'));
    assert.equal(c.database.storage, path.join(tollgateDir, 'data', 'tollgate.sqlite'));
  });

  it('a dataDir set in a config file is read against that file\'s folder; storage and journalDir inside dataDir', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tg-paths-'));
    try {
      const file = path.join(dir, 'tollgate.json');
      fs.writeFileSync(file, JSON.stringify({ dataDir: 'state', database: { storage: 'db/main.sqlite' }, prepaid: { journalDir: 'journal' } }));
      const c = loadConfig({ env: {}, file });
      assert.equal(c.dataDir, path.join(dir, 'state'));
      assert.equal(c.database.storage, path.join(dir, 'state', 'db', 'main.sqlite'));
      assert.equal(c.prepaid.journalDir, path.join(dir, 'state', 'journal'));
      // The environment's relative dataDir is read against the config file's folder too.
      assert.equal(loadConfig({ env: { TOLLGATE_DATA_DIR: 'other' }, file }).dataDir, path.join(dir, 'other'));
      // A config file that does not set dataDir leaves the default's base alone.
      fs.writeFileSync(file, JSON.stringify({ log: { level: 'warn' } }));
      assert.equal(loadConfig({ env: {}, file }).dataDir, path.join(tollgateDir, 'data'));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the CLI run from another folder uses the database beside its config file, not one in the current folder', function () {
    // A child process that migrates a database: bounded by its own 30 s spawn timeout, not mocha's 2 s.
    this.timeout(30_000);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tg-cwd-'));
    try {
      const home = path.join(dir, 'etc'), elsewhere = path.join(dir, 'elsewhere');
      fs.mkdirSync(home);
      fs.mkdirSync(elsewhere);
      const file = path.join(home, 'tollgate.json');
      fs.writeFileSync(file, JSON.stringify({ dataDir: 'data' }));
      const run = (...args: string[]) => spawnSync(process.execPath, [CLI, '-c', file, ...args], { cwd: elsewhere, env: { ...process.env, TOLLGATE_CONFIG: '' }, encoding: 'utf8', timeout: 30_000 });
      assert.equal(run('db', 'migrate').status, 0);
      const created = run('account', 'create', 'cwd-test', '--currency', 'EUR');
      assert.equal(created.status, 0, created.stderr);
      const shown = spawnSync(process.execPath, [CLI, '-c', path.relative(home, file), 'account', 'show', 'cwd-test'], { cwd: home, env: { ...process.env, TOLLGATE_CONFIG: '' }, encoding: 'utf8', timeout: 30_000 });
      assert.equal(shown.status, 0, shown.stderr);
      assert.ok(fs.existsSync(path.join(home, 'data', 'tollgate.sqlite')), 'the database is in the config file\'s folder');
      assert.deepEqual(fs.readdirSync(elsewhere), [], 'nothing was created in the current folder');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
