import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { restartDelaySeconds, type ChildSpec, type SupervisorConfig } from '../../../app/supervisor';
import type { ChildEvent } from '../../support/supervised-child';

const FIXTURE = path.resolve(__dirname, '../../support/supervisor-fixture.js');

interface LogLine { level: string; message: string; timestamp: string; process?: string; [k: string]: unknown }

/** The supervisor fixture leading its own process group, its log lines and its children's events. */
interface SupervisorRun {
  proc: ChildProcess;
  pid: number;
  logs: LogLine[];
  exit: Promise<number | null>;
  events(name?: string): ChildEvent[];
  logsOf(message: string, processName?: string): LogLine[];
}

async function waitUntil<T>(what: string, fn: () => T | undefined | false, timeoutMs = 10_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const v = fn();
    if (v !== undefined && v !== false) return v;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`${what}: not within ${timeoutMs} ms`);
}

const at = (l: LogLine): number => Date.parse(l.timestamp);

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('supervisor of `tollgate start`', function () {
  this.timeout(30_000);
  let dir: string;
  let run: SupervisorRun | undefined;

  beforeEach(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tg-supervisor-')); });
  afterEach(async () => {
    // Whatever a failed test left: the whole group goes.
    if (run && alive(run.pid)) {
      try { process.kill(-run.pid, 'SIGKILL'); } catch { /* gone meanwhile */ }
      await run.exit;
    }
    run = undefined;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function startSupervisor(specs: ChildSpec[], overrides: Partial<SupervisorConfig> = {}): SupervisorRun {
    const config: SupervisorConfig = { restartDelaySeconds: 0.2, maxRestartDelaySeconds: 2, stableSeconds: 30, killAfterSeconds: 5, ...overrides };
    const eventsFile = path.join(dir, 'events.jsonl');
    fs.writeFileSync(eventsFile, '');
    // detached: the supervisor leads its own process group, as at a terminal or under systemd.
    const proc = spawn(process.execPath, [FIXTURE, JSON.stringify(specs), JSON.stringify(config)], {
      detached: true, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, SUPERVISED_EVENTS: eventsFile },
    });
    const logs: LogLine[] = [];
    let buffered = '';
    proc.stderr!.on('data', (d: Buffer) => {
      buffered += d.toString();
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        try { logs.push(JSON.parse(line) as LogLine); } catch { logs.push({ level: 'raw', message: line, timestamp: new Date().toISOString() }); }
      }
    });
    const exit = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
    const events = (name?: string) => fs.readFileSync(eventsFile, 'utf8').split('\n').filter((l) => l !== '')
      .map((l) => JSON.parse(l) as ChildEvent).filter((e) => name === undefined || e.name === name);
    const logsOf = (message: string, processName?: string) => logs.filter((l) => l.message === message && (processName === undefined || l.process === processName));
    run = { proc, pid: proc.pid!, logs, exit, events, logsOf };
    return run;
  }

  const started = (r: SupervisorRun, name: string, count = 1) =>
    waitUntil(`${name} started ${count} time(s)`, () => { const s = r.events(name).filter((e) => e.event === 'started'); return s.length >= count ? s : undefined; });

  it('the restart delay doubles with each crash in a row up to the maximum', () => {
    const config: SupervisorConfig = { restartDelaySeconds: 1, maxRestartDelaySeconds: 30, stableSeconds: 60, killAfterSeconds: 90 };
    assert.deepEqual([1, 2, 3, 4, 5, 6, 7].map((n) => restartDelaySeconds(n, config)), [1, 2, 4, 8, 16, 30, 30]);
    assert.deepEqual([1, 2, 3].map((n) => restartDelaySeconds(n, { ...config, restartDelaySeconds: 0 })), [0, 0, 0]);
  });

  it('starts a crashing application again with a doubling back-off while the edge keeps running; SIGTERM during a back-off stops without a restart', async () => {
    const r = startSupervisor([{ name: 'edge', args: ['edge'] }, { name: 'app', args: ['app', '--crash-after-ms=100'] }],
      { restartDelaySeconds: 0.3, maxRestartDelaySeconds: 1.2 });
    const [edge] = await started(r, 'edge');
    const crashes = await waitUntil('four crashes of the application', () => {
      const c = r.logsOf('process exited unexpectedly; restarting', 'app');
      return c.length >= 4 ? c : undefined;
    }, 20_000);
    assert.deepEqual(crashes.map((c) => c.delaySeconds), [0.3, 0.6, 1.2, 1.2], 'the delay doubles up to the maximum');
    assert.ok(crashes.every((c) => c.code === 3 && c.signal === null), JSON.stringify(crashes));
    const restarts = r.logsOf('process started', 'app').slice(1, 4);
    const gaps = restarts.map((s, i) => at(s) - at(crashes[i]!));
    for (const [i, gap] of gaps.entries()) {
      const delayMs = Number(crashes[i]!.delaySeconds) * 1000;
      assert.ok(gap >= delayMs - 15 && gap < delayMs + 3000, `restart ${i + 1} after ${gap} ms, delay ${delayMs} ms`);
    }
    assert.ok(gaps[1]! > gaps[0]!, `the second wait (${gaps[1]} ms) is longer than the first (${gaps[0]} ms)`);

    assert.equal(r.events('edge').filter((e) => e.event === 'started').length, 1, 'the edge was never restarted');
    assert.ok(alive(edge!.pid), 'the edge runs on, same pid');
    assert.deepEqual(r.events('edge').filter((e) => e.event !== 'started'), [], 'the edge was not signalled');

    // The fourth crash's 1.2 s back-off is running: the stop cancels it.
    const appStarts = r.events('app').filter((e) => e.event === 'started').length;
    process.kill(r.pid, 'SIGTERM');
    assert.equal(await r.exit, 0, 'a clean stop');
    assert.equal(r.events('app').filter((e) => e.event === 'started').length, appStarts, 'no restart after the stop');
    assert.deepEqual(r.events('edge').map((e) => e.event), ['started', 'stopping', 'stopped']);
  });

  it('after a run of stableSeconds a crash waits only the first delay again', async () => {
    const r = startSupervisor([{ name: 'edge', args: ['edge'] }, { name: 'app', args: ['app', '--crash-after-ms=700'] }],
      { restartDelaySeconds: 0.2, maxRestartDelaySeconds: 5, stableSeconds: 0.5 });
    const crashes = await waitUntil('three crashes of the application', () => {
      const c = r.logsOf('process exited unexpectedly; restarting', 'app');
      return c.length >= 3 ? c : undefined;
    }, 20_000);
    assert.deepEqual(crashes.map((c) => c.delaySeconds), [0.2, 0.2, 0.2]);
    assert.ok(crashes.every((c) => Number(c.ranSeconds) >= 0.7), JSON.stringify(crashes));
    process.kill(r.pid, 'SIGTERM');
    assert.equal(await r.exit, 0);
  });

  it('starts a killed edge again and the application keeps running', async () => {
    const r = startSupervisor([{ name: 'edge', args: ['edge'] }, { name: 'app', args: ['app'] }]);
    const [edge] = await started(r, 'edge');
    const [app] = await started(r, 'app');
    process.kill(edge!.pid, 'SIGKILL');
    const second = (await started(r, 'edge', 2))[1]!;
    assert.notEqual(second.pid, edge!.pid);
    const [crash] = r.logsOf('process exited unexpectedly; restarting', 'edge');
    assert.equal(crash?.signal, 'SIGKILL');
    assert.equal(crash?.delaySeconds, 0.2);
    assert.ok(alive(app!.pid), 'the application runs on, same pid');
    assert.deepEqual(r.events('app').map((e) => e.event), ['started']);
    process.kill(r.pid, 'SIGTERM');
    assert.equal(await r.exit, 0);
  });

  it('on SIGTERM stops the application, waits for it to finish its drain, then stops the edge', async () => {
    const r = startSupervisor([{ name: 'edge', args: ['edge', '--drain-ms=100'] }, { name: 'app', args: ['app', '--drain-ms=400'] }]);
    await started(r, 'edge');
    await started(r, 'app');
    process.kill(r.pid, 'SIGTERM');
    assert.equal(await r.exit, 0);
    const order = r.events().map((e) => `${e.name} ${e.event}${e.signal ? ' ' + e.signal : ''}`);
    assert.deepEqual(order, ['edge started', 'app started', 'app stopping SIGTERM', 'app stopped', 'edge stopping SIGTERM', 'edge stopped']);
    const appEvents = r.events('app');
    assert.ok(appEvents[2]!.t - appEvents[1]!.t >= 400 - 15, 'the application had its whole drain');
  });

  it('starts a process with its Node.js flags before the script (supervisor.nodeArgs), and one without them with none', async () => {
    const r = startSupervisor([{ name: 'edge', args: ['edge'], nodeArgs: ['--single-threaded-gc', '--max-old-space-size=256'] }, { name: 'app', args: ['app'] }]);
    const [edge] = await started(r, 'edge');
    const [app] = await started(r, 'app');
    assert.deepEqual(edge!.execArgv, ['--single-threaded-gc', '--max-old-space-size=256']);
    assert.deepEqual(app!.execArgv, []);
    process.kill(r.pid, 'SIGTERM');
    assert.equal(await r.exit, 0);
  });

  it('a process ended by the stop signal itself (it was already exiting, its handler gone) is a clean stop, as systemd counts it', async () => {
    const r = startSupervisor([{ name: 'edge', args: ['edge'] }, { name: 'app', args: ['app', '--default-stop'] }]);
    await started(r, 'edge');
    await started(r, 'app');
    process.kill(r.pid, 'SIGTERM');
    assert.equal(await r.exit, 0);
    const [stopped] = r.logsOf('process stopped', 'app');
    assert.equal(stopped?.signal, 'SIGTERM');
  });

  it('kills a process that ignores SIGTERM after killAfterSeconds, then stops the edge, and reports the unclean stop', async () => {
    const r = startSupervisor([{ name: 'edge', args: ['edge'] }, { name: 'app', args: ['app', '--ignore-stop'] }], { killAfterSeconds: 0.5 });
    await started(r, 'edge');
    const [app] = await started(r, 'app');
    process.kill(r.pid, 'SIGTERM');
    assert.equal(await r.exit, 1, 'a killed process is not a clean stop');
    const [asked] = r.logsOf('stopping process', 'app');
    const [stopped] = r.logsOf('process stopped', 'app');
    assert.equal(r.logsOf('process did not stop in time; killing', 'app').length, 1);
    assert.equal(stopped?.signal, 'SIGKILL');
    const waited = at(stopped!) - at(asked!);
    assert.ok(waited >= 500 - 15 && waited < 5000, `killed ${waited} ms after SIGTERM`);
    assert.deepEqual(r.events('app').map((e) => e.event), ['started', 'signal-ignored']);
    assert.deepEqual(r.events('edge').map((e) => e.event), ['started', 'stopping', 'stopped']);
    assert.ok(!alive(app!.pid));
  });

  it('two SIGINTs to the whole process group drain once: the application finishes its drain, the supervisor exits 0 and nothing is left running', async () => {
    const r = startSupervisor([{ name: 'edge', args: ['edge', '--drain-ms=1200'] }, { name: 'app', args: ['app', '--drain-ms=800'] }]);
    const [edge] = await started(r, 'edge');
    const [app] = await started(r, 'app');
    process.kill(-r.pid, 'SIGINT');
    // Both have taken the first signal (a second one still pending would merge with it).
    await waitUntil('the application stopping', () => r.events('app').some((e) => e.event === 'stopping'));
    await waitUntil('the supervisor stopping', () => r.logsOf('stopping', 'supervisor').length > 0);
    process.kill(-r.pid, 'SIGINT');
    assert.equal(await r.exit, 0, 'a clean stop');

    const appEvents = r.events('app');
    assert.deepEqual(appEvents.filter((e) => e.event !== 'signal-ignored').map((e) => `${e.event}${e.signal ? ' ' + e.signal : ''}`), ['started', 'stopping SIGINT', 'stopped']);
    assert.ok(appEvents.some((e) => e.event === 'signal-ignored' && e.signal === 'SIGINT'), 'the second SIGINT reached the application and was ignored');
    const stopping = appEvents.find((e) => e.event === 'stopping')!;
    const stopped = appEvents.find((e) => e.event === 'stopped')!;
    assert.ok(stopped.t - stopping.t >= 800 - 15, 'the application finished its drain');
    assert.ok(r.events('edge').some((e) => e.event === 'stopped'), 'the edge stopped by itself');
    assert.ok(r.logsOf('already stopping; signal ignored').length >= 1, 'the supervisor ignored the second signal');
    assert.deepEqual(r.logsOf('process did not stop in time; killing'), []);
    assert.ok(!alive(app!.pid) && !alive(edge!.pid), 'no child left');
    assert.throws(() => process.kill(-r.pid, 0), /ESRCH/, 'the process group is empty');
  });

  it('a process that ends its own stop before the supervisor comes to it is still logged as stopped, with its code', async () => {
    const r = startSupervisor([{ name: 'edge', args: ['edge', '--drain-ms=50'] }, { name: 'app', args: ['app', '--drain-ms=1500'] }]);
    await started(r, 'edge');
    await started(r, 'app');
    process.kill(-r.pid, 'SIGTERM');
    assert.equal(await r.exit, 0, 'a clean stop');
    assert.ok(r.events('edge').some((e) => e.event === 'stopped'), 'the edge stopped by itself');
    assert.deepEqual(r.logsOf('stopping process', 'edge'), [], 'the supervisor had nothing left to stop');
    assert.deepEqual(r.logsOf('process stopped').map((l) => [l.process, l.code, l.signal]), [['edge', 0, null], ['app', 0, null]]);
  });

  it('passes SIGHUP to the application, which reloads on it, and not to the edge', async () => {
    const r = startSupervisor([{ name: 'edge', args: ['edge'] }, { name: 'app', args: ['app'], reloadsOnHup: true }]);
    await started(r, 'edge');
    await started(r, 'app');
    process.kill(r.pid, 'SIGHUP');
    await waitUntil('the application reloading', () => r.events('app').some((e) => e.event === 'reloaded'));
    process.kill(r.pid, 'SIGTERM');
    assert.equal(await r.exit, 0);
    assert.deepEqual(r.events('edge').map((e) => e.event), ['started', 'stopping', 'stopped']);
  });
});
