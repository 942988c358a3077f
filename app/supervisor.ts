import { spawn, type ChildProcess } from 'node:child_process';
import type { Logger } from '../lib/common/logger';
import type { TollgateConfig } from './config/schema';

/**
 * `tollgate start` in the embedded mode: the edge and the application as two processes, so both
 * cores work. They start in order (the application connects to the edge).
 *
 * A process that exits without being told to is started again after a back-off, and the other
 * keeps running: the edge holds the calls through its grace while the application restarts and
 * settles them; the application reconnects by itself to a restarted edge.
 *
 * SIGINT/SIGTERM, once or many times, to the supervisor alone or to the whole process group: no
 * more restarts; the processes are stopped in reverse order, each SIGTERMed and waited for (killed
 * after killAfterSeconds): the application first, which drains and ends its calls with BYEs
 * through the edge, then the edge. Signals that arrive while stopping change nothing, so a second
 * Ctrl-C never turns a drain into a kill. SIGHUP goes to the processes that reload on it.
 */
export interface ChildSpec {
  name: string;
  args: string[];
  reloadsOnHup?: boolean;
  env?: NodeJS.ProcessEnv;
  /** Node.js and V8 flags before the CLI script (supervisor.nodeArgs). */
  nodeArgs?: string[];
}

/** Tells an application process started by `tollgate start` which of supervisor.applications it is (1, 2, …). */
export const APPLICATION_NUMBER_ENV = 'TOLLGATE_APPLICATION_NUMBER';

/**
 * What `tollgate start` runs in the embedded mode: the edge, then supervisor.applications
 * application processes. With more than one, each is told its number: it derives its own
 * instance id, folders and admin port from it (app/main.ts applicationProcessConfig).
 */
export function embeddedProcessSpecs(config: TollgateConfig): ChildSpec[] {
  const n = config.supervisor.applications;
  const nodeArgs = config.supervisor.nodeArgs.length > 0 ? { nodeArgs: [...config.supervisor.nodeArgs] } : {};
  const apps: ChildSpec[] = n === 1
    ? [{ name: 'app', args: ['app'], reloadsOnHup: true, ...nodeArgs }]
    : Array.from({ length: n }, (_, i) => ({ name: `app-${i + 1}`, args: ['app'], reloadsOnHup: true, env: { [APPLICATION_NUMBER_ENV]: String(i + 1) }, ...nodeArgs }));
  return [{ name: 'edge', args: ['edge'], ...nodeArgs }, ...apps];
}

export type SupervisorConfig = Omit<TollgateConfig['supervisor'], 'applications' | 'nodeArgs'>;

enum State { Running, Stopping }

interface Supervised {
  spec: ChildSpec;
  /** Unset while the process waits to be started (again). */
  running?: { child: ChildProcess; exited: Promise<void> };
  crashesInRow: number;
  restart?: NodeJS.Timeout;
}

/** Seconds before a process that crashed `crashesInRow` times in a row (1 for the first) starts again. */
export function restartDelaySeconds(crashesInRow: number, config: SupervisorConfig): number {
  return Math.min(config.restartDelaySeconds * 2 ** (crashesInRow - 1), config.maxRestartDelaySeconds);
}

/** Runs the processes until SIGINT/SIGTERM; resolves with the exit code (0 after a clean stop). */
export async function superviseProcesses(cli: string, specs: ChildSpec[], config: SupervisorConfig, logger: Logger, env: NodeJS.ProcessEnv): Promise<number> {
  let state = State.Running as State; // changed by the signal handlers
  let clean = true;
  const processes: Supervised[] = specs.map((spec) => ({ spec, crashesInRow: 0 }));
  let requestStop = (): void => undefined;
  const stopRequested = new Promise<void>((resolve) => { requestStop = resolve; });

  const start = (p: Supervised): void => {
    p.restart = undefined;
    const name = p.spec.name;
    const startedAt = Date.now();
    const child = spawn(process.execPath, [...(p.spec.nodeArgs ?? []), cli, ...p.spec.args], { stdio: 'inherit', env: p.spec.env ? { ...env, ...p.spec.env } : env });
    const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => {
      child.once('exit', (code, signal) => resolve([code, signal]));
      child.on('error', (err) => {
        logger.error('process error', { process: name, error: err.message });
        if (child.pid === undefined) resolve([null, null]); // never spawned: no 'exit' follows
      });
    }).then(([code, signal]) => {
      const ranSeconds = (Date.now() - startedAt) / 1000;
      p.running = undefined;
      if (state === State.Stopping) {
        // Logged whether the supervisor stopped it or it ended its own stop first (under a signal
        // to the whole group), so every exit of the stop shows its code and signal.
        logger.info('process stopped', { process: name, code, signal });
        // Ended by the stop signal itself (it came before the process could handle it: still
        // starting) is a clean stop, as systemd counts it; a kill or an exit code is not.
        const byStopSignal = code === null && (signal === 'SIGTERM' || signal === 'SIGINT');
        if (code !== 0 && !byStopSignal) clean = false;
        return;
      }
      p.crashesInRow = ranSeconds >= config.stableSeconds ? 1 : p.crashesInRow + 1;
      const delaySeconds = restartDelaySeconds(p.crashesInRow, config);
      logger.error('process exited unexpectedly; restarting', { process: name, code, signal, ranSeconds, delaySeconds });
      p.restart = setTimeout(() => { if (state === State.Running) start(p); }, delaySeconds * 1000);
    });
    p.running = { child, exited };
    logger.info('process started', { process: name, pid: child.pid });
  };

  const stopOne = async (p: Supervised): Promise<void> => {
    if (!p.running) return;
    const { child, exited } = p.running;
    logger.info('stopping process', { process: p.spec.name, pid: child.pid });
    child.kill('SIGTERM');
    const killer = setTimeout(() => {
      logger.error('process did not stop in time; killing', { process: p.spec.name, killAfterSeconds: config.killAfterSeconds });
      child.kill('SIGKILL');
    }, config.killAfterSeconds * 1000);
    await exited;
    clearTimeout(killer);
  };

  const onStopSignal = (signal: NodeJS.Signals): void => {
    if (state === State.Stopping) {
      logger.info('already stopping; signal ignored', { signal });
      return;
    }
    state = State.Stopping;
    logger.info('stopping', { signal });
    requestStop();
  };
  const onHangup = (): void => {
    for (const p of processes) if (p.spec.reloadsOnHup && p.running) p.running.child.kill('SIGHUP');
  };
  process.on('SIGINT', onStopSignal);
  process.on('SIGTERM', onStopSignal);
  process.on('SIGHUP', onHangup);

  for (const [i, p] of processes.entries()) {
    // The application connects to the edge, so the edge gets a head start.
    if (i > 0) await Promise.race([stopRequested, new Promise((r) => setTimeout(r, 300))]);
    if (state === State.Stopping) break;
    start(p);
  }
  await stopRequested;
  for (const p of processes) clearTimeout(p.restart);
  for (const p of [...processes].reverse()) await stopOne(p);

  // The signal handlers stay to the process's end: a stop signal now is logged and ignored, a
  // SIGHUP finds nothing to reload. Without a handler a signal's default action would kill the
  // supervisor on its way out (exit status "killed by SIGTERM" for a clean stop); the caller exits
  // explicitly for the same reason (app/cli/run.ts exitStopped).
  logger.info('stopped', { clean });
  return clean ? 0 : 1;
}
