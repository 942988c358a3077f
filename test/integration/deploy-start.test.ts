import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const ROOT = path.resolve(__dirname, '../../..');

function npm(cwd: string, args: string[]): { status: number | null; out: string; ms: number } {
  const t0 = Date.now();
  const r = spawnSync('npm', args, { cwd, encoding: 'utf8', timeout: 150_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}`, ms: Date.now() - t0 };
}

describe('npm start builds only when sources changed', function () {
  this.timeout(400_000);
  let clone: string;

  before(() => {
    // A fresh-clone layout: sources, no dist/.
    clone = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-start-'));
    for (const entry of ['package.json', 'tsconfig.json', 'app', 'lib', 'test', 'config']) {
      fs.cpSync(path.join(ROOT, entry), path.join(clone, entry), { recursive: true });
    }
    fs.symlinkSync(fs.realpathSync(path.join(ROOT, 'node_modules')), path.join(clone, 'node_modules'));
  });

  after(() => {
    if (clone) fs.rmSync(clone, { recursive: true, force: true });
  });

  it('start builds first, and the build is a no-op when nothing changed, a rebuild when a source did', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(clone, 'package.json'), 'utf8'));
    assert.match(pkg.scripts.start, /^npm run build && node dist\/app\/cli\.js start$/);

    const first = npm(clone, ['run', 'build']);
    assert.equal(first.status, 0, first.out);
    const cli = path.join(clone, 'dist/app/cli.js');
    const builtAt = fs.statSync(cli).mtimeMs;

    const second = npm(clone, ['run', 'build']);
    assert.equal(second.status, 0, second.out);
    assert.equal(fs.statSync(cli).mtimeMs, builtAt, 'an unchanged tree is not rebuilt');

    // A changed source makes the next build compile (dry run: reports without writing).
    const source = path.join(clone, 'app/cli.ts');
    const later = new Date(Date.now() + 2000);
    fs.utimesSync(source, later, later);
    const dry = spawnSync(path.join(clone, 'node_modules/.bin/tsc'), ['-b', '.', '--dry', '--verbose'], { cwd: clone, encoding: 'utf8', timeout: 60_000 });
    assert.match(`${dry.stdout}${dry.stderr}`, /out of date because .*app\/cli\.ts/);
    process.stderr.write(`      build: first ${first.ms} ms, unchanged ${second.ms} ms\n`);
  });
});
