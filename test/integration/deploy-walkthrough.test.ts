/**
 * config/deploy/README.md "Production walkthrough", run as written against the run's MariaDB:
 * its SQL as the administrator, then its shell block with `tollgate` as the built CLI.
 */
import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import { randomBytes } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import mysql from 'mysql2/promise';
import { TEST_MYSQL_ENV } from '../support/mariadb';

const ROOT = path.resolve(__dirname, '../../..');
const CLI = path.join(ROOT, 'dist/app/cli.js');

function walkthrough(): { sql: string; sh: string } {
  const readme = fs.readFileSync(path.join(ROOT, 'config/deploy/README.md'), 'utf8');
  const section = /^## Production walkthrough[^\n]*\n([\s\S]*?)^## /m.exec(readme);
  assert.ok(section, 'the README has a production walkthrough');
  const sql = /```sql\n([\s\S]*?)```/.exec(section[1]);
  const sh = /```sh\n([\s\S]*?)```/.exec(section[1]);
  assert.ok(sql && sh, 'with an SQL block and a shell block');
  return { sql: sql[1], sh: sh[1] };
}

describe('deployment walkthrough on MariaDB', function () {
  this.timeout(180_000);
  const name = `tg_walk_${randomBytes(4).toString('hex')}`;
  const password = randomBytes(12).toString('hex');
  let server: URL;
  let dir: string;

  before(function () {
    const url = process.env[TEST_MYSQL_ENV];
    if (!url) throw new Error(`${TEST_MYSQL_ENV} is not set: run through test/support/harness.js`);
    server = new URL(url);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-walk-'));
  });

  after(async () => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    if (!server) return;
    const root = await mysql.createConnection({ host: server.hostname, port: Number(server.port), user: decodeURIComponent(server.username) || 'root', password: decodeURIComponent(server.password) });
    try {
      await root.query(`DROP DATABASE IF EXISTS \`${name}\``);
      await root.query(`DROP USER IF EXISTS '${name}'@'%'`);
    } finally {
      await root.end();
    }
  });

  it('creates the database and user with the README SQL, then sets up tariffs, trunks, an account, a group and members', async () => {
    const { sql, sh } = walkthrough();
    // The README's names and host pattern, made unique on the shared test server.
    const statements = sql.replace(/\btollgate\b/g, name).replace(/'10\.0\.0\.%'/g, "'%'").replace(/'replace-me'/g, `'${password}'`)
      .split(';').map((s) => s.trim()).filter((s) => s !== '');
    assert.equal(statements.length, 3);
    const root = await mysql.createConnection({ host: server.hostname, port: Number(server.port), user: decodeURIComponent(server.username) || 'root', password: decodeURIComponent(server.password) });
    try {
      for (const statement of statements) await root.query(statement);
    } finally {
      await root.end();
    }

    const configFile = path.join(dir, 'config.json');
    fs.writeFileSync(configFile, JSON.stringify({
      instanceId: 'walkthrough',
      dataDir: path.join(dir, 'data'),
      database: { url: `mysql://${name}:${password}@${server.hostname}:${server.port}/${name}` },
    }));
    const script = `set -eu\ntollgate() { "${process.execPath}" "${CLI}" "$@"; }\n${sh}`;
    const env = { PATH: process.env.PATH ?? '', HOME: dir, TOLLGATE_CONFIG: configFile };
    const run = spawnSync('bash', ['-c', script], { cwd: ROOT, env, encoding: 'utf8', timeout: 150_000 });
    const out = `${run.stdout}\n${run.stderr}`;
    assert.equal(run.status, 0, out.slice(-4000));
    assert.doesNotMatch(run.stdout, /refused|error/i);
    assert.match(run.stdout, /imported 3 services/);
    assert.match(run.stdout, /serves members/);

    const show = spawnSync(process.execPath, [CLI, 'account', 'show', 'acme-alice', '--json'], { env, encoding: 'utf8', timeout: 30_000 });
    assert.equal(show.status, 0, show.stderr);
    assert.equal(JSON.parse(show.stdout).balance, '20.000000');
    // A second migrate, as the container does at every start, changes nothing.
    const again = spawnSync(process.execPath, [CLI, 'db', 'migrate'], { env, encoding: 'utf8', timeout: 60_000 });
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stdout, /nothing|up to date|0 migration/i);
  });
});
