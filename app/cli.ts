#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { AppError } from '../lib/common/errors';
import { createCliContext } from './cli/context';
import { registerDbCommands } from './cli/db';
import { registerRunCommands } from './cli/run';
import { registerTariffCommands } from './cli/tariff';
import { registerVpnCommands } from './cli/vpn';
import { registerAccountCommands } from './cli/account';
import { registerCdrCommands } from './cli/cdr';

/** The `tollgate` command line. Every subcommand area registers itself here. */
export function buildProgram(argv: string[]): Command {
  const program = new Command('tollgate')
    .description('Tollgate: SIP B2BUA for enterprise VPN numbering and real-time prepaid charging')
    .option('-c, --config <file>', 'JSON config file merged over config/default.json (or $TOLLGATE_CONFIG)')
    .showHelpAfterError()
    .exitOverride();
  const configFile = peekOption(argv, ['-c', '--config']);
  const command = argv.find((a) => !a.startsWith('-') && a !== configFile);
  const processName = command === 'edge' || command === 'app' ? command : command === 'start' ? 'supervisor' : 'cli';
  const ctx = createCliContext({ configFile, processName });
  registerRunCommands(program, ctx);
  registerDbCommands(program, ctx);
  registerTariffCommands(program, ctx);
  registerVpnCommands(program, ctx);
  registerAccountCommands(program, ctx);
  registerCdrCommands(program, ctx);
  return program;
}

function peekOption(argv: string[], names: string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (names.includes(a)) return argv[i + 1];
    const eq = names.find((n) => a.startsWith(n + '='));
    if (eq) return a.slice(eq.length + 1);
  }
  return undefined;
}

async function main(): Promise<void> {
  const program = buildProgram(process.argv.slice(2));
  try {
    await program.parseAsync(process.argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode;
      return;
    }
    process.stderr.write(`error: ${err instanceof AppError || err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
}

if (require.main === module) void main();
