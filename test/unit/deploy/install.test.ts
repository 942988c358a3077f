import { strict as assert } from 'assert';
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

// semver ships no types; the two calls used here.
const semver = require('semver') as {
  minVersion(range: string): { version: string } | null;
  satisfies(version: string, range: string): boolean;
};

const ROOT = path.resolve(__dirname, '../../../..');

describe('install configuration', function () {
  this.timeout(30000);

  it('npm reads no project config it does not know', () => {
    const r = spawnSync('npm', ['config', 'list'], { cwd: ROOT, encoding: 'utf8', timeout: 20000 });
    assert.equal(r.status, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /Unknown (project|user|env|cli) config/);
  });

  it('sqlite3 is built from source: prebuild-install, run where npm runs its install, finds buildFromSource', () => {
    // A copy of the project's file above a node_modules/sqlite3 directory, the way npm lays out a fresh clone.
    const project = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-install-'));
    try {
      fs.copyFileSync(path.join(ROOT, '.prebuild-installrc'), path.join(project, '.prebuild-installrc'));
      const sqlite3 = path.join(project, 'node_modules', 'sqlite3');
      fs.mkdirSync(sqlite3, { recursive: true });
      fs.writeFileSync(path.join(sqlite3, 'package.json'), JSON.stringify({ name: 'sqlite3', version: '0.0.0' }));
      const rc = require.resolve('prebuild-install/rc.js');
      const read = `process.stdout.write(JSON.stringify(require(${JSON.stringify(rc)})(require('./package.json')).buildFromSource))`;
      const out = execFileSync(process.execPath, ['-e', read], { cwd: sqlite3, encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } });
      assert.equal(out, 'true');
    } finally {
      fs.rmSync(project, { recursive: true, force: true });
    }
  });

  it('every locked package supports the oldest Node the project claims', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    const oldest = semver.minVersion(pkg.engines.node);
    assert.ok(oldest, 'engines.node is a range');
    const lock = JSON.parse(fs.readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8'));
    const refusing = Object.entries(lock.packages as Record<string, { engines?: { node?: string }; dev?: boolean }>)
      .filter(([name, p]) => name !== '' && typeof p.engines?.node === 'string' && !semver.satisfies(oldest.version, p.engines.node))
      .map(([name, p]) => `${name} (${p.engines!.node})`);
    assert.deepEqual(refusing, []);
  });
});
