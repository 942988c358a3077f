import type { Command } from 'commander';
import path from 'node:path';
import type { CliContext } from './context';
import { superviseProcesses } from '../supervisor';
import { startApplication } from '../main';
import { runEdge } from '../edge-process';

function untilSignal(): Promise<NodeJS.Signals> {
  // The process lives until it is told to stop, whatever handles it holds meanwhile.
  const keepAlive = setInterval(() => undefined, 1 << 30);
  return new Promise((resolve) => {
    const on = (s: NodeJS.Signals) => () => { clearInterval(keepAlive); resolve(s); };
    process.once('SIGINT', on('SIGINT'));
    process.once('SIGTERM', on('SIGTERM'));
  });
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
      process.exitCode = await superviseProcesses(cli, [{ name: 'edge', args: ['edge'] }, { name: 'app', args: ['app'], reloadsOnHup: true }], ctx.logger, env);
    });

  program.command('edge')
    .description('run the SIP edge only (the drachtio-compatible SIP server)')
    .action(async () => {
      const edge = await runEdge(ctx.config(), ctx.logger);
      const signal = await untilSignal();
      ctx.logger.info('edge stopping', { signal });
      await edge.close();
    });

  program.command('app')
    .description('run the application process only (connects to the edge or an external drachtio server)')
    .action(async () => runApplication(ctx));
}

async function runApplication(ctx: CliContext): Promise<void> {
  const app = await startApplication(ctx.config(), ctx.logger);
  // SIGHUP: what can change live (rule tables, VPN directory) is re-read now.
  const onHangup = () => { void app.reload('SIGHUP'); };
  process.on('SIGHUP', onHangup);
  const signal = await untilSignal();
  process.off('SIGHUP', onHangup);
  await app.stop(signal);
}
