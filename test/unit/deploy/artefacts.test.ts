/**
 * config/deploy: the container file (linted with dockerfilelint when it is on PATH, and read here),
 * the compose file (parsed with js-yaml), and the configuration both give the product.
 */
import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { load as loadYaml } from 'js-yaml';
import { loadConfig } from '../../../app/config/load';

const ROOT = path.resolve(__dirname, '../../../..');
const DEPLOY = path.join(ROOT, 'config/deploy');
const CLI = path.join(ROOT, 'dist/app/cli.js');

interface Instruction { op: string; args: string; line: number }

/** Container file instructions, continuation lines joined, comments dropped. */
function instructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending = '';
  let start = 0;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (pending === '' && (line === '' || line.startsWith('#'))) return;
    if (pending === '') start = i + 1;
    pending += `${line.replace(/\\$/, '').trim()} `;
    if (line.endsWith('\\')) return;
    const m = /^(\w+)\s+(.*)$/.exec(pending.trim());
    assert.ok(m, `line ${start}: ${pending}`);
    out.push({ op: m[1].toUpperCase(), args: m[2], line: start });
    pending = '';
  });
  return out;
}

/** ENV key=value pairs (quoted values unquoted). */
function envOf(args: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const m of args.matchAll(/([A-Z_][A-Z0-9_]*)=('([^']*)'|"([^"]*)"|(\S+))/g)) env[m[1]] = m[3] ?? m[4] ?? m[5];
  return env;
}

function cli(args: string[]): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 20_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

type Service = { image?: string; build?: { context: string; dockerfile: string }; command?: string[]; environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>; ports?: string[]; volumes?: string[]; healthcheck?: { test: string[] } };

describe('deployment artefacts', function () {
  this.timeout(60_000);
  const containerfile = fs.readFileSync(path.join(DEPLOY, 'Containerfile'), 'utf8');
  const steps = instructions(containerfile);
  const finalStage = steps.slice(steps.map((s) => s.op).lastIndexOf('FROM'));
  const compose = loadYaml(fs.readFileSync(path.join(DEPLOY, 'compose.yaml'), 'utf8')) as { services: Record<string, Service>; volumes: Record<string, unknown> };

  it('the container file passes dockerfilelint (when installed)', function () {
    if (spawnSync('sh', ['-c', 'command -v dockerfilelint'], { stdio: 'ignore' }).status !== 0) this.skip();
    const r = spawnSync('dockerfilelint', [path.join(DEPLOY, 'Containerfile')], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, r.stdout);
  });

  it('the container file builds on Node 20 slim, installs with npm ci from the lock, copies only what exists', () => {
    const froms = steps.filter((s) => s.op === 'FROM');
    assert.ok(froms.length >= 1);
    for (const f of froms) assert.match(f.args, /^node:20[.\d]*-[\w-]*slim\b/);
    assert.ok(steps.some((s) => s.op === 'RUN' && /\bnpm ci\b/.test(s.args)));
    assert.ok(steps.some((s) => s.op === 'RUN' && /\bnpm run build\b/.test(s.args)));
    const ci = steps.findIndex((s) => s.op === 'RUN' && /\bnpm ci\b/.test(s.args));
    const rcCopied = steps.findIndex((s) => s.op === 'COPY' && /\.prebuild-installrc/.test(s.args));
    assert.ok(rcCopied >= 0 && rcCopied < ci, 'the build-from-source setting is in place before npm ci');
    for (const copy of steps.filter((s) => s.op === 'COPY' && !/--from=/.test(s.args))) {
      const sources = copy.args.split(/\s+/).filter((w) => !w.startsWith('--')).slice(0, -1);
      for (const src of sources) assert.ok(fs.existsSync(path.join(ROOT, src)), `COPY ${src} (line ${copy.line})`);
    }
  });

  it('the image runs the supervisor as a non-root user, with its state on a volume and its ports exposed', () => {
    const user = finalStage.filter((s) => s.op === 'USER').pop();
    assert.ok(user && !/^(root|0)(:|$)/.test(user.args), 'a non-root USER in the final stage');
    const entry = JSON.parse(finalStage.find((s) => s.op === 'ENTRYPOINT')!.args) as string[];
    const cmd = JSON.parse(finalStage.find((s) => s.op === 'CMD')!.args) as string[];
    assert.deepEqual(entry, ['node', '/opt/tollgate/dist/app/cli.js']);
    assert.deepEqual(cmd, ['start']);
    assert.ok(fs.existsSync(CLI));
    const env = Object.assign({}, ...finalStage.filter((s) => s.op === 'ENV').map((s) => envOf(s.args))) as Record<string, string>;
    const volumes = JSON.parse(finalStage.find((s) => s.op === 'VOLUME')!.args) as string[];
    assert.ok(volumes.some((v) => env.TOLLGATE_DATA_DIR.startsWith(`${v}/`)), `dataDir ${env.TOLLGATE_DATA_DIR} on a volume`);
    const exposed = finalStage.filter((s) => s.op === 'EXPOSE').flatMap((s) => s.args.split(/\s+/));
    const config = loadConfig({ env });
    const listening = [...config.edge.sip.map((l) => `${l.port}/${l.transport}`), `${config.admin.port}/tcp`];
    assert.deepEqual([...new Set(listening)].sort(), [...exposed].sort());
    for (const l of config.edge.sip) assert.equal(l.address, '0.0.0.0', 'SIP reachable from outside the container');
    assert.equal(config.admin.address, '0.0.0.0');
  });

  it('compose: MariaDB with a healthcheck, a one-shot migration, then Tollgate', () => {
    const { db, migrate, tollgate } = compose.services;
    assert.ok(db && migrate && tollgate, 'services db, migrate, tollgate');
    assert.match(db.image ?? '', /^mariadb:/);
    assert.ok(db.healthcheck?.test.length);
    assert.deepEqual(migrate.command, ['db', 'migrate']);
    assert.equal(migrate.depends_on?.db.condition, 'service_healthy');
    assert.equal(migrate.build?.dockerfile, 'config/deploy/Containerfile');
    assert.ok(fs.existsSync(path.join(DEPLOY, migrate.build!.context, migrate.build!.dockerfile)));
    assert.equal(tollgate.image, migrate.image);
    assert.deepEqual(tollgate.command, ['start']);
    assert.equal(tollgate.depends_on?.migrate.condition, 'service_completed_successfully');
    assert.equal(tollgate.depends_on?.db.condition, 'service_healthy');
    const published = (tollgate.ports ?? []).map((p) => p.split(':').pop());
    assert.deepEqual(published.sort(), ['5060/tcp', '5060/udp', '8088/tcp']);
    assert.ok((tollgate.volumes ?? []).some((v) => v.endsWith(':/var/lib/tollgate')));
  });

  it('compose: the commands it runs exist in the CLI', () => {
    for (const [name, service] of Object.entries(compose.services)) {
      if (service.image?.startsWith('mariadb')) continue;
      const r = cli([...(service.command ?? []), '--help']);
      assert.equal(r.status, 0, `${name}: tollgate ${service.command?.join(' ')}: ${r.out}`);
      assert.match(r.out, new RegExp(`^Usage: tollgate ${service.command!.join(' ')}`, 'm'));
    }
  });

  it('compose: the environment it gives Tollgate is valid configuration pointing at the db service', () => {
    const image = Object.assign({}, ...finalStage.filter((s) => s.op === 'ENV').map((s) => envOf(s.args))) as Record<string, string>;
    const sample: Record<string, string> = { DB_PASSWORD: 'secret', ADMIN_TOKEN: 'a'.repeat(32), SIP_PUBLIC_ADDRESS: '203.0.113.10' };
    const env: Record<string, string> = { ...image };
    for (const [k, v] of Object.entries(compose.services.tollgate.environment ?? {})) {
      env[k] = String(v).replace(/\$\{(\w+)(:\?[^}]*)?\}/g, (_, name: string) => sample[name] ?? '');
    }
    const config = loadConfig({ env });
    assert.equal(config.database.dialect, 'mysql');
    assert.equal(new URL(config.database.url!).host, 'db:3306');
    assert.equal(config.admin.token, sample.ADMIN_TOKEN);
    assert.equal(config.edge.publicAddress, sample.SIP_PUBLIC_ADDRESS);
    assert.ok(config.instanceId);
  });
});
