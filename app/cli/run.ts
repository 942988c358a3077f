import type { Command } from 'commander';
import path from 'node:path';
import type { Logger } from '../../lib/common/logger';
import type { TollgateConfig } from '../config/schema';
import type { CliContext } from './context';
import { APPLICATION_NUMBER_ENV, embeddedProcessSpecs, superviseProcesses } from '../supervisor';
import { applicationProcessConfig, startApplication, type RunningApplication } from '../main';
import { runEdge } from '../edge-process';
import { snapshotEnvironment } from '../environment';

/**
 * Resolves at the first SIGINT/SIGTERM. Later ones are logged and ignored: a second Ctrl-C, or a
 * signal to the whole process group followed by the supervisor's own, must not kill a process
 * that is draining. `release` lets the process exit when start-up failed before any signal.
 */
function untilStopSignal(logger: Logger): { signal: Promise<NodeJS.Signals>; release(): void } {
  // The process lives until it is told to stop, whatever handles it holds meanwhile.
  const keepAlive = setInterval(() => undefined, 1 << 30);
  let onSignal: (signal: NodeJS.Signals) => void = () => undefined;
  const signal = new Promise<NodeJS.Signals>((resolve) => {
    let stopping = false;
    onSignal = (sig: NodeJS.Signals) => {
      if (stopping) {
        logger.info('already stopping; signal ignored', { signal: sig });
        return;
      }
      stopping = true;
      clearInterval(keepAlive);
      resolve(sig);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  return {
    signal,
    release: () => {
      clearInterval(keepAlive);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

/** Runs start-up with the stop signals already handled; on a failed start they are let go. */
async function startListening<T>(logger: Logger, start: () => Promise<T>): Promise<{ running: T; signal: Promise<NodeJS.Signals> }> {
  const stop = untilStopSignal(logger);
  try {
    return { running: await start(), signal: stop.signal };
  } catch (err) {
    stop.release();
    throw err;
  }
}

/**
 * The stop is bounded by the drains; this is the last resort if something else hangs (a peer, the
 * database): the process exits on its own, as the supervisor would kill it after the same time.
 */
function boundStop(config: TollgateConfig, logger: Logger): void {
  const seconds = config.supervisor.killAfterSeconds;
  setTimeout(() => {
    logger.error('stop did not finish in time; exiting', { killAfterSeconds: seconds });
    process.exit(1);
  }, seconds * 1000).unref();
}

/**
 * Ends a process whose stop has finished. Left to end by itself, Node lets its signal handlers go
 * while it tears down, and a SIGTERM in that moment kills it: under a signal to the whole process
 * group, the edge finishes as the application exits, which is when the supervisor SIGTERMs it, so
 * a clean stop showed as "killed by SIGTERM". process.exit keeps the handlers to the end (a signal
 * then is ignored). Log lines still in the pipe's buffer go out first, for a bounded while.
 */
async function exitStopped(): Promise<never> {
  const pending = [process.stdout, process.stderr].filter((s) => s.writableLength > 0);
  await Promise.race([
    Promise.all(pending.map((s) => new Promise((r) => s.once('drain', r)))),
    new Promise((r) => setTimeout(r, 2000).unref()),
  ]);
  process.exit(process.exitCode ?? 0);
}

/** How long a stopping edge waits for its applications to disconnect before it closes. */
const APPLICATIONS_GONE_MS = 2000;

async function untilApplicationsGone(edge: { counters(): Record<string, number> }, boundMs: number): Promise<void> {
  const until = Date.now() + boundMs;
  while ((edge.counters().appConnections ?? 0) > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
}

export function registerRunCommands(program: Command, ctx: CliContext): void {
  program.command('start')
    .description('run Tollgate: in the embedded mode the edge and the application as two processes')
    .action(async () => {
      const config = ctx.config();
      if (config.drachtio.mode === 'external') {
        await runApplication(ctx);
        return;
      }
      const cli = path.resolve(__dirname, '../cli.js');
      const passOn = program.opts<{ config?: string }>().config;
      const env = passOn ? { ...process.env, TOLLGATE_CONFIG: path.resolve(passOn) } : process.env;
      process.exitCode = await superviseProcesses(cli, embeddedProcessSpecs(config), config.supervisor, ctx.logger, env);
      await exitStopped();
    });

  program.command('edge')
    .description('run the SIP edge only (the drachtio-compatible SIP server)')
    .action(async () => {
      const config = ctx.config();
      // Nothing to reload; a SIGHUP to the whole process group must not end the calls.
      const onHangup = () => ctx.logger.info('SIGHUP ignored: the edge has nothing to reload');
      process.on('SIGHUP', onHangup);
      // Signals are handled from before start-up: one that comes right after the ready line
      // stops the edge in order instead of killing it.
      const { running: edge, signal: stopSignal } = await startListening(ctx.logger, () => runEdge(config, ctx.logger));
      const signal = await stopSignal;
      boundStop(config, ctx.logger);
      ctx.logger.info('edge stopping', { signal, drainSeconds: config.edge.drainSeconds });
      // Dialogs get the time to end, so the application's BYEs still pass when it stops at the same time.
      await edge.drain(config.edge.drainSeconds * 1000);
      // Under a signal to the whole process group the applications stop at the same moment: they
      // get a short, bounded while to disconnect first, so none sees its SIP server vanish.
      await untilApplicationsGone(edge, APPLICATIONS_GONE_MS);
      await edge.close();
      await exitStopped();
    });

  program.command('app')
    .description('run the application process only (connects to the edge or an external drachtio server)')
    .action(async () => runApplication(ctx));
}

async function runApplication(ctx: CliContext): Promise<void> {
  // Before drachtio-srf parses its first message: it reads process.env for every header.
  snapshotEnvironment();
  const config = applicationProcessConfig(ctx.config(), Number(process.env[APPLICATION_NUMBER_ENV] ?? 1));
  let app: RunningApplication | undefined;
  let stopping = false;
  // SIGHUP: what can change live (rule tables, VPN directory) is re-read now; not while stopping,
  // but still handled then, as its default action would kill the process in the middle of the drain.
  const onHangup = () => {
    if (stopping || !app) ctx.logger.info(stopping ? 'SIGHUP ignored: stopping' : 'SIGHUP ignored: still starting');
    else void app.reload('SIGHUP');
  };
  process.on('SIGHUP', onHangup);
  // Signals are handled from before start-up, so one right after the ready line drains and settles.
  const started = await startListening(ctx.logger, () => startApplication(config, ctx.logger));
  app = started.running;
  const signal = await started.signal;
  stopping = true;
  boundStop(config, ctx.logger);
  await app.stop(signal);
  await exitStopped();
}
