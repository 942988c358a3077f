import { strict as assert } from 'node:assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { ConfigError, loadConfig } from '../../../app/config/load';

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

describe('configuration', () => {
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
