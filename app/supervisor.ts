import { spawn, type ChildProcess } from 'node:child_process';
import type { Logger } from '../lib/common/logger';

/**
 * `tollgate start` in the embedded mode: the edge and the application as two processes, so both
 * cores work. SIGINT/SIGTERM go to both; if either dies on its own, the other is stopped too.
 */
export interface ChildSpec { name: string; args: string[] }

export async function superviseProcesses(cli: string, specs: ChildSpec[], logger: Logger, env: NodeJS.ProcessEnv): Promise<number> {
  const children = new Map<string, ChildProcess>();
  let stopping = false;
  let exitCode = 0;

  const stopAll = (signal: NodeJS.Signals): void => {
    stopping = true;
    for (const child of children.values()) if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    // A child that ignores the signal is killed after a bound.
    setTimeout(() => { for (const child of children.values()) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); }, 60_000).unref();
  };

  const onSignal = (signal: NodeJS.Signals) => () => {
    logger.info('stopping', { signal });
    stopAll(signal);
  };
  const sigint = onSignal('SIGINT');
  const sigterm = onSignal('SIGTERM');
  process.on('SIGINT', sigint);
  process.on('SIGTERM', sigterm);

  const exits = specs.map(async (spec, i) => {
    // The application connects to the edge, so the edge gets a head start.
    if (i > 0) await new Promise((r) => setTimeout(r, 300));
    if (stopping) return;
    const child = spawn(process.execPath, [cli, ...spec.args], { stdio: 'inherit', env });
    children.set(spec.name, child);
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('exit', (c, s) => resolve([c, s])));
    if (!stopping) {
      logger.error('process exited unexpectedly; stopping the others', { process: spec.name, code, signal });
      exitCode = 1;
      stopAll('SIGTERM');
    } else if (code !== 0 && code !== null) {
      exitCode = code;
    }
  });
  await Promise.all(exits);
  process.off('SIGINT', sigint);
  process.off('SIGTERM', sigterm);
  return exitCode;
}
