import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDatabaseUrl, type Database } from '../../lib/db/database';
import { allFarEndsAt, PEOPLE, seedCallWorld } from '../support/call-fixture';
import { cdrOf, checkBooks, placeCall, startFarEnd, type FarEndProcess } from '../support/calls';
import { testDatabaseUrl } from '../support/mariadb';
import { eventually } from '../support/ops-product';
import { startProduct, type Product } from '../support/product';

const ROOT = path.resolve(__dirname, '../../..');
const UNIT = path.join(ROOT, 'config/tollgate.service');
const CLI = path.resolve(__dirname, '../../app/cli.js');
const SYSTEMD_ANALYZE = '/usr/bin/systemd-analyze';

/** The supervisor's children by the process each runs (`edge`, `app`), from /proc. */
function childrenOf(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  const taskDir = `/proc/${pid}/task`;
  const tasks = fs.existsSync(taskDir) ? fs.readdirSync(taskDir) : [];
  for (const task of tasks) {
    let children = '';
    try { children = fs.readFileSync(`${taskDir}/${task}/children`, 'utf8'); } catch { continue; }
    for (const child of children.split(' ').filter(Boolean).map(Number)) {
      let argv: string[] = [];
      try { argv = fs.readFileSync(`/proc/${child}/cmdline`, 'utf8').split('\0').filter(Boolean); } catch { continue; }
      const command = argv[argv.length - 1];
      if (command === 'edge' || command === 'app') out.set(command, child);
    }
  }
  return out;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('the systemd unit (config/tollgate.service)', () => {
  let dir: string;
  before(function () {
    if (!fs.existsSync(SYSTEMD_ANALYZE)) this.skip(); // systemd-analyze is not installed here: the unit cannot be verified
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tg-unit-'));
  });
  after(() => { if (dir) fs.rmSync(dir, { recursive: true, force: true }); });

  /** systemd-analyze verify on a copy whose ExecStart is this checkout's node and CLI (verify needs them to exist). */
  function verify(unitText: string): { status: number | null; output: string } {
    const file = path.join(dir, 'tollgate.service');
    fs.writeFileSync(file, unitText.replace(/^ExecStart=.*$/m, `ExecStart=${process.execPath} ${CLI} start`));
    const r = spawnSync(SYSTEMD_ANALYZE, ['verify', file], { encoding: 'utf8', timeout: 30_000 });
    return { status: r.status, output: `${r.stdout}${r.stderr}` };
  }

  it('is accepted by systemd-analyze verify without a warning', () => {
    const text = fs.readFileSync(UNIT, 'utf8');
    assert.match(text, /^ExecStart=\S*node \/opt\/tollgate\/dist\/app\/cli\.js start$/m);
    const r = verify(text);
    assert.equal(r.status, 0, r.output);
    assert.deepEqual(r.output.split('\n').filter((l) => l.includes('tollgate')), [], 'no warning about the unit');
    // The same check sees a mistake, so its silence above means something.
    const broken = verify(text.replace('KillMode=mixed', 'KillMode=mixd'));
    assert.ok(broken.output.includes('tollgate.service'), `a bad KillMode is reported: ${broken.output}`);
  });

  it('sends SIGTERM to the supervisor alone and waits longer than both drains before killing', () => {
    const text = fs.readFileSync(UNIT, 'utf8');
    const key = (k: string) => new RegExp(`^${k}=(.*)$`, 'm').exec(text)?.[1];
    assert.equal(key('KillMode'), 'mixed');
    assert.equal(key('KillSignal'), 'SIGTERM');
    assert.equal(key('ExecReload'), '/bin/kill -HUP $MAINPID');
    const defaults = JSON.parse(fs.readFileSync(path.join(ROOT, 'config/default.json'), 'utf8')) as { calls: { drainSeconds: number }; edge: { drainSeconds: number } };
    const timeout = Number(key('TimeoutStopSec'));
    assert.ok(timeout >= defaults.calls.drainSeconds + defaults.edge.drainSeconds + 20, `TimeoutStopSec ${timeout} covers both drains and the settlement`);
  });
});

describe('`tollgate start` when a process dies or the whole group is signalled', function () {
  this.timeout(90_000);
  let databaseUrl: string;
  let db: Database;
  let far: FarEndProcess;
  let product: Product | undefined;

  before(async () => {
    databaseUrl = await testDatabaseUrl('ops_supervisor');
    db = await openDatabaseUrl(databaseUrl);
    await db.migrate();
    far = await startFarEnd('uas-answer.xml', 'udp');
    await seedCallWorld(db, allFarEndsAt(far.port), 'udp');
  });

  afterEach(async () => {
    await product?.stop('SIGKILL');
    for (const pid of product ? childrenOf(product.child.pid!).values() : []) process.kill(pid, 'SIGKILL');
    product = undefined;
  });

  after(async () => {
    await far?.stop();
    await db?.close();
  });

  it('starts a killed application again while the edge runs on (same pid), and /ready answers again', async () => {
    product = await startProduct({ databaseUrl, config: { supervisor: { restartDelaySeconds: 0.5, maxRestartDelaySeconds: 2 } } });
    const supervisor = product.child.pid!;
    const before = await eventually('edge and application running', async () => { const c = childrenOf(supervisor); return c.size === 2 ? c : undefined; });
    const edgePid = before.get('edge')!;
    const appPid = before.get('app')!;

    process.kill(appPid, 'SIGKILL');
    const crash = await product.waitForLog((l) => l.message === 'process exited unexpectedly; restarting', 10_000);
    assert.equal(crash.process, 'app');
    assert.equal(crash.signal, 'SIGKILL');
    assert.equal(crash.delaySeconds, 0.5);

    const after = await eventually('the application started again', async () => {
      const c = childrenOf(supervisor);
      return c.has('app') && c.get('app') !== appPid ? c : undefined;
    }, 15_000);
    assert.equal(after.get('edge'), edgePid, 'the edge was not restarted');
    assert.ok(alive(edgePid));
    const ready = await eventually('/ready after the restart', async () => {
      const r = await fetch(`http://127.0.0.1:${product!.adminPort}/ready`, { signal: AbortSignal.timeout(2000) });
      return r.status === 200 ? (await r.json()) as Record<string, unknown> : undefined;
    }, 20_000);
    assert.equal(ready.ready, true, 'the restarted application is connected to the edge and the database');
    assert.ok(!product.logs.some((l) => l.message === 'edge stopping'), 'the edge was never stopped');

    assert.equal(await product.stop('SIGTERM'), 0, 'then a clean stop');
    assert.ok(!alive(edgePid) && !alive(after.get('app')!), 'nothing left running');
  });

  it('SIGINT twice to every process at once (as Ctrl-C does) drains the live call once: BYE to both ends, settled, exit 0', async () => {
    product = await startProduct({ databaseUrl, config: { calls: { drainSeconds: 1 } } });
    const supervisor = product.child.pid!;
    const call = placeCall({ scenario: 'uac-call-expect-bye.xml', caller: PEOPLE.alice.e164, dialled: PEOPLE.bob.ext, transport: 'udp', sipPort: product.sipPort, timeoutMs: 30_000 });
    await product.waitForLog((l) => l.message === 'call answered', 15_000);
    const processes = childrenOf(supervisor);
    assert.equal(processes.size, 2);
    // The product runs in the test's process group, so the group signal is sent to each of its
    // processes in one go: the kernel delivers a group signal the same way.
    const everyone = [supervisor, ...processes.values()];
    for (const pid of everyone) process.kill(pid, 'SIGINT');
    // Every process has taken the first signal (a second one still pending would merge with it).
    await product.waitForLog((l) => l.message === 'application stopping', 10_000);
    await product.waitForLog((l) => l.message === 'edge stopping', 10_000);
    await product.waitForLog((l) => l.message === 'stopping' && l.process === 'supervisor', 10_000);
    for (const pid of everyone) if (alive(pid)) process.kill(pid, 'SIGINT');

    const exit = await new Promise<number | null>((resolve) => {
      if (product!.child.exitCode !== null) resolve(product!.child.exitCode);
      else product!.child.once('exit', (code) => resolve(code));
    });
    assert.equal(exit, 0, `a clean stop:\n${product.logs.slice(-15).map((l) => JSON.stringify(l)).join('\n')}`);
    assert.ok(product.logs.some((l) => l.message === 'already stopping; signal ignored'), 'the second signal was ignored');
    assert.ok(!product.logs.some((l) => l.message === 'process did not stop in time; killing'));
    assert.ok(everyone.every((pid) => !alive(pid)), 'nothing left running');

    const run = await call;
    assert.equal(run.result.exitCode, 0, `the caller got its BYE: ${run.result.stdout.slice(-600)}`);
    const cdr = await cdrOf(db, run.sipCallId);
    assert.equal(cdr.releaseCause, 'shutdown');
    const bLeg = far.readLog().find((l) => l.startsWith('INVITE') && l.includes(`ruser=${PEOPLE.bob.e164}`))?.split(' ')[1];
    assert.ok(bLeg && far.readLog().some((l) => l.startsWith(`BYE ${bLeg}`)), 'the callee got its BYE');
    const books = await checkBooks(db);
    assert.deepEqual(books.problems, []);
    assert.equal(books.openReservations, 0);
  });
});
