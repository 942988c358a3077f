import { spawn, type ChildProcess } from 'node:child_process';
import type { Logger } from '../lib/common/logger';

/**
 * `tollgate start` in the embedded mode: the edge and the application as two processes, so both
 * cores work. They start in order (the application connects to the edge) and stop in reverse:
 * SIGINT/SIGTERM go to the application first, which drains and ends its calls with BYEs through
 * the edge, and only once it has exited to the edge. SIGHUP goes to the processes that reload on
 * it. If either dies on its own, the other is stopped too.
 */
export interface ChildSpec { name: string; args: string[]; reloadsOnHup?: boolean }

const KILL_AFTER_MS = 60_000;

function alive(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

function exited(child: ChildProcess): Promise<void> {
  return alive(child) ? new Promise((resolve) => child.once('exit', () => resolve())) : Promise.resolve();
}

export async function superviseProcesses(cli: string, specs: ChildSpec[], logger: Logger, env: NodeJS.ProcessEnv): Promise<number> {
  const started: Array<{ spec: ChildSpec; child: ChildProcess }> = [];
  let stopping: Promise<void> | undefined;
  let exitCode = 0;

  /** Last started first; each one is waited for (and killed if it hangs) before the next. */
  const stopAll = (signal: NodeJS.Signals): Promise<void> => {
    stopping ??= (async () => {
      for (const { spec, child } of [...started].reverse()) {
        if (!alive(child)) continue;
        logger.info('stopping process', { process: spec.name, signal });
        child.kill(signal);
        const killer = setTimeout(() => { if (alive(child)) child.kill('SIGKILL'); }, KILL_AFTER_MS);
        await exited(child);
        clearTimeout(killer);
      }
    })();
    return stopping;
  };

  const onSignal = (signal: NodeJS.Signals) => () => {
    logger.info('stopping', { signal });
    void stopAll(signal);
  };
  const sigint = onSignal('SIGINT');
  const sigterm = onSignal('SIGTERM');
  const sighup = () => {
    for (const { spec, child } of started) if (spec.reloadsOnHup && alive(child)) child.kill('SIGHUP');
  };
  process.on('SIGINT', sigint);
  process.on('SIGTERM', sigterm);
  process.on('SIGHUP', sighup);

  const exits: Array<Promise<void>> = [];
  for (const [i, spec] of specs.entries()) {
    // The application connects to the edge, so the edge gets a head start.
    if (i > 0) await new Promise((r) => setTimeout(r, 300));
    if (stopping) break;
    const child = spawn(process.execPath, [cli, ...spec.args], { stdio: 'inherit', env });
    started.push({ spec, child });
    exits.push(new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('exit', (c, s) => resolve([c, s])))
      .then(([code, signal]) => {
        if (!stopping) {
          logger.error('process exited unexpectedly; stopping the others', { process: spec.name, code, signal });
          exitCode = 1;
          void stopAll('SIGTERM');
        } else if (code !== 0 && code !== null) {
          exitCode = code;
        }
      }));
  }
  await Promise.all(exits);
  await stopping;
  process.off('SIGINT', sigint);
  process.off('SIGTERM', sigterm);
  process.off('SIGHUP', sighup);
  return exitCode;
}
