import type { Command } from 'commander';
import path from 'node:path';
import type { Logger } from '../../lib/common/logger';
import type { TollgateConfig } from '../config/schema';
import type { CliContext } from './context';
import { superviseProcesses } from '../supervisor';
import { startApplication } from '../main';
import { runEdge } from '../edge-process';

/**
 * Resolves at the first SIGINT/SIGTERM. Later ones are logged and ignored: a second Ctrl-C, or a
 * signal to the whole process group followed by the supervisor's own, must not kill a process
 * that is draining.
 */
function untilStopSignal(logger: Logger): Promise<NodeJS.Signals> {
  // The process lives until it is told to stop, whatever handles it holds meanwhile.
  const keepAlive = setInterval(() => undefined, 1 << 30);
  return new Promise((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) {
        logger.info('already stopping; signal ignored', { signal });
        return;
      }
      stopping = true;
      clearInterval(keepAlive);
      resolve(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
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
      const specs = [{ name: 'edge', args: ['edge'] }, { name: 'app', args: ['app'], reloadsOnHup: true }];
      process.exitCode = await superviseProcesses(cli, specs, config.supervisor, ctx.logger, env);
    });

  program.command('edge')
    .description('run the SIP edge only (the drachtio-compatible SIP server)')
    .action(async () => {
      const config = ctx.config();
      const edge = await runEdge(config, ctx.logger);
      // Nothing to reload; a SIGHUP to the whole process group must not end the calls.
      const onHangup = () => ctx.logger.info('SIGHUP ignored: the edge has nothing to reload');
      process.on('SIGHUP', onHangup);
      const signal = await untilStopSignal(ctx.logger);
      boundStop(config, ctx.logger);
      ctx.logger.info('edge stopping', { signal, drainSeconds: config.edge.drainSeconds });
      // Dialogs get the time to end, so the application's BYEs still pass when it stops at the same time.
      await edge.drain(config.edge.drainSeconds * 1000);
      await edge.close();
      process.off('SIGHUP', onHangup);
    });

  program.command('app')
    .description('run the application process only (connects to the edge or an external drachtio server)')
    .action(async () => runApplication(ctx));
}

async function runApplication(ctx: CliContext): Promise<void> {
  const config = ctx.config();
  const app = await startApplication(config, ctx.logger);
  let stopping = false;
  // SIGHUP: what can change live (rule tables, VPN directory) is re-read now; not while stopping,
  // but still handled then, as its default action would kill the process in the middle of the drain.
  const onHangup = () => {
    if (stopping) ctx.logger.info('SIGHUP ignored: stopping');
    else void app.reload('SIGHUP');
  };
  process.on('SIGHUP', onHangup);
  const signal = await untilStopSignal(ctx.logger);
  stopping = true;
  boundStop(config, ctx.logger);
  await app.stop(signal);
  process.off('SIGHUP', onHangup);
}
